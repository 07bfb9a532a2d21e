"""The readings table: local history of every value, good or bad."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from edge_agent.records import Reading, finite


def next_id(conn: sqlite3.Connection) -> int:
    """The id the next inserted reading gets."""
    return int(conn.execute("SELECT coalesce(max(id), 0) + 1 FROM readings").fetchone()[0])


def insert(conn: sqlite3.Connection, readings: Sequence[Reading]) -> int:
    """Insert in order with consecutive ids; returns the first id (the caller's transaction).

    Explicit ids make a poll's readings one contiguous id range, which the outbox keeps
    (`reading_lo`) to know which history rows are still owed to the platform.
    """
    first = next_id(conn)
    conn.executemany(
        "INSERT INTO readings(id, ts_ms, device, point, value, quality, reason) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (first + i, r.ts_ms, r.device, r.point, finite(r.value), r.quality, r.reason)
            for i, r in enumerate(readings)
        ],
    )
    return first


def prune(conn: sqlite3.Connection, *, before_ts_ms: int | None, limit: int) -> int:
    """Delete delivered readings, oldest first; `before_ts_ms=None` ignores their age.

    A reading is delivered when no telemetry row still owes it: every id below the
    smallest `reading_lo` in the outbox. Returns how many rows went.
    """
    owed = conn.execute("SELECT min(reading_lo) FROM outbox WHERE kind = 'telemetry'").fetchone()[0]
    bound = owed if owed is not None else 1 << 62
    # Ids follow time, so the oldest rows are at the head of the table: look at one
    # chunk there rather than keep an index on ts_ms (~20 bytes per reading).
    age = "" if before_ts_ms is None else " AND ts_ms < :ts"
    cur = conn.execute(
        "DELETE FROM readings WHERE id IN (SELECT id FROM readings "
        f"WHERE id < :bound ORDER BY id LIMIT :limit){age}",
        {"bound": bound, "ts": before_ts_ms, "limit": limit},
    )
    return cur.rowcount
