"""Readings as .npz columns: a round trip, and columns that do not fit are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rules.backtest.csvfile import read_csv
from rules.backtest.data import read_data
from rules.backtest.npz import write_npz
from rules.errors import RuleError
from tests.unit.rules.backtest.support import same


def test_npz_columns_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "r.csv"
    src.write_text("ts,point,value,quality\n2,b/x,1.5,\n1,a/x,,bad\n3,a/x,-0.0,\n")
    csv_readings = read_csv(src)
    write_npz(csv_readings, tmp_path / "r.npz")
    same(read_data(tmp_path / "r.npz"), csv_readings)


def test_npz_with_bad_columns_is_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "r.npz", keys=np.array(["a/x"]), point_idx=np.array([0, 1]),
             ts_ms=np.array([1, 2]), value=np.array([1.0, 2.0]))  # fmt: skip
    with pytest.raises(RuleError, match="point_idx outside keys"):
        read_data(tmp_path / "r.npz")
