"""The gateway's message counter and drop counters, kept in `meta` so they outlive rows.

`seq` is handed out when a message is sealed for publishing (see outbox.seal), +1 per
message, inside the same transaction that freezes the message, so a resend after a
reconnect or a crash carries the same `seq` and the same bytes.
"""

from __future__ import annotations

import sqlite3


def get(conn: sqlite3.Connection, key: str) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return 0 if row is None else int(row[0])


def add(conn: sqlite3.Connection, key: str, delta: int) -> None:
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
        (key, delta),
    )


def next_seq(conn: sqlite3.Connection) -> int:
    return get(conn, "next_seq")


def set_next_seq(conn: sqlite3.Connection, value: int) -> None:
    conn.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (value,))
