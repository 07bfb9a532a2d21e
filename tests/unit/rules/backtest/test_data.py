"""`--data` by suffix: CSV and .npz are read here, a database is the caller's to read."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.backtest.data import is_database, read_data
from rules.errors import RuleError


@pytest.mark.parametrize("name", ["buffer.db", "x.SQLITE", "y.sqlite3"])
def test_a_database_is_left_to_the_caller(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"")
    assert is_database(tmp_path / name)
    with pytest.raises(RuleError, match=r"edge_agent\.store\.query"):
        read_data(tmp_path / name)


def test_any_other_suffix_is_a_csv(tmp_path: Path) -> None:
    (tmp_path / "readings.txt").write_text("ts,point,value\n2,a/x,1\n1,a/x,2\n")
    assert not is_database(tmp_path / "readings.txt")
    assert read_data(tmp_path / "readings.txt").ts_ms.tolist() == [1, 2]
