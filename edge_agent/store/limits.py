"""Keeping the buffer inside its limits: the size cap and the retention of history.

Over the cap, space is made in this order: delivered readings (the platform has
them), then the oldest telemetry still owed, which is lost and counted. Alarms are
never dropped. Each dropped message leaves a gap in `seq`, so the platform can see
where the loss happened, and `health` counts it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from edge_agent.store import alarms, outbox, readings
from edge_agent.store import seq as counters
from edge_agent.store.db import transaction

READINGS_CHUNK = 20_000


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes in live pages: free pages are reused before the file grows."""
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    return (pages - free) * page_size


@dataclass
class Trimmed:
    pruned_readings: int = 0
    dropped_messages: int = 0
    dropped_readings: int = 0
    over_cap: bool = False  # still over the cap: only alarms (or sealed rows) are left


def enforce_cap(conn: sqlite3.Connection, max_bytes: int, *, max_rounds: int = 400) -> Trimmed:
    out = Trimmed()
    for _ in range(max_rounds):
        if used_bytes(conn) <= max_bytes:
            return out
        with transaction(conn):
            pruned = readings.prune(conn, before_ts_ms=None, limit=READINGS_CHUNK)
        out.pruned_readings += pruned
        if pruned:
            continue
        with transaction(conn):
            open_rows = conn.execute(
                "SELECT count(*) FROM outbox WHERE seq IS NULL AND kind = 'telemetry'"
            ).fetchone()[0]
            rows, n = outbox.drop_oldest_telemetry(conn, max(10, int(open_rows) // 10))
            if rows:
                counters.add(conn, "dropped_messages", rows)
                counters.add(conn, "dropped_readings", n)
                counters.set_next_seq(conn, counters.next_seq(conn) + rows)
        out.dropped_messages += rows
        out.dropped_readings += n
        if not rows:
            break
    out.over_cap = used_bytes(conn) > max_bytes
    return out


def prune_history(conn: sqlite3.Connection, before_ts_ms: int, *, max_rounds: int = 50) -> int:
    """Delete delivered readings and cleared alarms older than the cutoff."""
    total = 0
    for _ in range(max_rounds):
        with transaction(conn):
            n = readings.prune(conn, before_ts_ms=before_ts_ms, limit=READINGS_CHUNK)
        total += n
        if n < READINGS_CHUNK:
            break
    with transaction(conn):
        alarms.prune_cleared(conn, before_ts_ms)
    return total
