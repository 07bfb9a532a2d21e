"""Readings as columns in an .npz: the fastest input to read for years of data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rules.backtest.readings import Readings
from rules.errors import RuleError


def write_npz(readings: Readings, path: Path) -> None:
    """Readings as columns in an uncompressed .npz, which read_npz loads at disk speed."""
    np.savez(
        path, keys=np.array(readings.keys, dtype=str), point_idx=readings.point_idx,
        ts_ms=readings.ts_ms, value=readings.value, good=readings.good,
    )  # fmt: skip


def read_npz(path: Path) -> Readings:
    """Columns `keys` (str), `point_idx`, `ts_ms` (int64), `value` (float64), `good` (int8;
    optional, all good) of equal length, as write_npz writes them; sorted here if need be."""
    try:
        with np.load(path, allow_pickle=False) as z:
            ts = np.asarray(z["ts_ms"], dtype=np.int64)
            r = Readings(
                [str(k) for k in z["keys"]],
                np.asarray(z["point_idx"], dtype=np.int64), ts,
                np.asarray(z["value"], dtype=np.float64),
                np.asarray(z["good"], dtype=np.int8) if "good" in z else np.ones(len(ts), np.int8),
            )  # fmt: skip
    except (OSError, KeyError, ValueError) as err:
        raise RuleError([(str(path), "", f"cannot read columns: {err}")]) from err
    n = len(ts)
    if not (len(r.point_idx) == len(r.value) == len(r.good) == n):
        raise RuleError([(str(path), "", "columns of different lengths")])
    if n and (r.point_idx.min() < 0 or r.point_idx.max() >= len(r.keys)):
        raise RuleError([(str(path), "", "point_idx outside keys")])
    if np.any(np.diff(ts) < 0):
        r.sort_by_time()
    return r
