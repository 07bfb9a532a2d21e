"""`--data` by its suffix: a readings CSV or an .npz of columns. A buffer.db is not read
here (no SQL in rules): the caller reads it (edge_agent.store.query) and hands its columns
to readings_from_columns."""

from __future__ import annotations

from pathlib import Path

from rules.backtest.csvfile import read_csv
from rules.backtest.npz import read_npz
from rules.backtest.readings import Readings
from rules.errors import RuleError

DATABASE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def is_database(path: Path) -> bool:
    """Is `path` a buffer.db by its name (which the caller must read)?"""
    return path.suffix.lower() in DATABASE_SUFFIXES


def read_data(path: Path) -> Readings:
    """Readings from a CSV (read_csv) or an .npz (read_npz), by the file's suffix."""
    if is_database(path):
        raise RuleError([(str(path), "", "a database is read by the caller "
                          "(edge_agent.store.query), not by rules: pass its columns")])  # fmt: skip
    if path.suffix.lower() == ".npz":
        return read_npz(path)
    return read_csv(path)
