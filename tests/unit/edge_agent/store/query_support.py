"""A buffer.db as the daemon leaves it (WAL, still open), for the query and CLI tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

T0 = 1795536000000  # 2026-11-24T16:00:00Z


def make_buffer(path: Path) -> sqlite3.Connection:
    """A buffer.db with the columns export_readings reads; left open, as a running agent would."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(
        "CREATE TABLE readings (device TEXT, point TEXT, ts_ms INTEGER, value REAL, "
        "quality TEXT, reason TEXT)"
    )
    conn.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, payload BLOB)")
    rows: list[tuple[str, str, int, float, str, str | None]] = []
    for i in range(10):
        ts = T0 + i * 60_000
        rows.append(("pt-101", "pressure", ts, 0.40 + i / 100, "good", None))
        rows.append(("pt-102", "pressure", ts, float("nan"), "bad", "timeout"))
        rows.append(("mh-7", "methane_lel", ts, 3.5, "good", None))
    conn.executemany("INSERT INTO readings VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.executemany("INSERT INTO outbox (payload) VALUES (?)", [(b"x",)] * 4)
    conn.commit()
    return conn
