"""The baselines table: what detection learned about each (rule, point), kept across restarts.

A time-of-day baseline takes days to learn; a restart must not start its cold start again.
The engine hands its learned state as plain data (lists of numbers per name); the store
keeps one JSON document per (rule, point), replaced on every save.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

Learned = Mapping[tuple[str, str], Mapping[str, Any]]  # (rule id, point key) -> state


def save(conn: sqlite3.Connection, learned: Learned, ts_ms: int) -> int:
    """Replace the stored state of these (rule, point) pairs (the caller's transaction)."""
    conn.executemany(
        "INSERT OR REPLACE INTO baselines(rule, point, state, saved_ms) VALUES (?, ?, ?, ?)",
        [(rule, point, json.dumps(state, separators=(",", ":")), ts_ms)
         for (rule, point), state in learned.items()],
    )  # fmt: skip
    return len(learned)


def load(conn: sqlite3.Connection) -> dict[tuple[str, str], dict[str, Any]]:
    """Every stored (rule, point) state; a row that does not parse is left out."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for rule, point, state in conn.execute("SELECT rule, point, state FROM baselines"):
        try:
            out[(str(rule), str(point))] = json.loads(state)
        except ValueError:
            continue
    return out
