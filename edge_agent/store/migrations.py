"""Versioned schema. `PRAGMA user_version` records the last migration applied.

Add a migration by appending to MIGRATIONS; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3

from edge_agent.store.db import transaction
from edge_agent.store.errors import StoreError

MIGRATIONS: list[str] = [
    # 1: readings (local history), alarms (every transition), outbox (what is owed to
    # the platform), meta (counters that must outlive any row: next seq, drops).
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    CREATE TABLE readings (
        id      INTEGER PRIMARY KEY,
        ts_ms   INTEGER NOT NULL,
        device  TEXT NOT NULL,
        point   TEXT NOT NULL,
        value   REAL,
        quality TEXT NOT NULL,
        reason  TEXT
    );
    CREATE TABLE alarms (
        id       INTEGER PRIMARY KEY,
        alarm_id TEXT NOT NULL,
        ts_ms    INTEGER NOT NULL,
        device   TEXT NOT NULL,
        point    TEXT NOT NULL,
        rule     TEXT NOT NULL,
        kind     TEXT NOT NULL,
        level    INTEGER NOT NULL,
        state    TEXT NOT NULL,
        value    REAL,
        "limit"  REAL,
        unit     TEXT NOT NULL,
        eta_s    REAL
    );
    CREATE INDEX alarms_by_alarm ON alarms(alarm_id, id);
    CREATE TABLE outbox (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        seq         INTEGER UNIQUE,
        kind        TEXT NOT NULL CHECK (kind IN ('alarm', 'telemetry')),
        gateway     TEXT NOT NULL,
        device      TEXT NOT NULL,
        point       TEXT,
        n           INTEGER NOT NULL,
        reading_lo  INTEGER,
        body        TEXT NOT NULL,
        created_ms  INTEGER NOT NULL
    );
    CREATE INDEX outbox_unsealed ON outbox(kind, device, id) WHERE seq IS NULL;
    INSERT INTO meta(key, value) VALUES ('next_seq', 1), ('dropped_messages', 0),
        ('dropped_readings', 0);
    """,
    # 2: an alarm event owed to the platform refers to its row in `alarms` (a fact,
    # encoded by the uplink at send) instead of carrying the event's JSON.
    """
    ALTER TABLE outbox ADD COLUMN alarm_ref INTEGER;
    """,
    # 3: actions (every decided write: done, failed, blocked, dry-run, or pending while
    # under way) and outbox rows of kind 'action' that refer to them. The kind CHECK of
    # migration 1 cannot be altered in place: the outbox is rebuilt, rows and ids kept.
    """
    CREATE TABLE actions (
        id         INTEGER PRIMARY KEY,
        event_id   TEXT NOT NULL,
        ts_ms      INTEGER NOT NULL,
        device     TEXT NOT NULL,
        point      TEXT NOT NULL,
        action     TEXT NOT NULL,
        alarm_id   TEXT,
        value      REAL,
        state      TEXT NOT NULL,
        reason     TEXT,
        read_back  REAL
    );
    CREATE INDEX actions_by_alarm ON actions(alarm_id, action);
    CREATE TABLE outbox_v3 (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        seq         INTEGER UNIQUE,
        kind        TEXT NOT NULL CHECK (kind IN ('alarm', 'telemetry', 'action')),
        gateway     TEXT NOT NULL,
        device      TEXT NOT NULL,
        point       TEXT,
        n           INTEGER NOT NULL,
        reading_lo  INTEGER,
        body        TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        alarm_ref   INTEGER,
        action_ref  INTEGER
    );
    INSERT INTO outbox_v3(id, seq, kind, gateway, device, point, n, reading_lo, body,
        created_ms, alarm_ref)
        SELECT id, seq, kind, gateway, device, point, n, reading_lo, body, created_ms,
        alarm_ref FROM outbox;
    DROP TABLE outbox;
    ALTER TABLE outbox_v3 RENAME TO outbox;
    CREATE INDEX outbox_unsealed ON outbox(kind, device, id) WHERE seq IS NULL;
    """,
    # 4: every raised / level-changed transition keeps its evidence (window,
    # baseline, delta, slope, eta, composite members) as a JSON document.
    """
    ALTER TABLE alarms ADD COLUMN evidence TEXT;
    """,
    # 5: learned time-of-day baselines, one JSON document per (rule, point), so a
    # restart does not start the cold start again.
    """
    CREATE TABLE baselines (
        rule     TEXT NOT NULL,
        point    TEXT NOT NULL,
        state    TEXT NOT NULL,
        saved_ms INTEGER NOT NULL,
        PRIMARY KEY (rule, point)
    );
    """,
]


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration newer than the file; returns the resulting version."""
    version = schema_version(conn)
    if version > len(MIGRATIONS):
        raise StoreError(
            f"buffer schema version {version} is newer than this edge-agent "
            f"(knows up to {len(MIGRATIONS)}); upgrade edge-agent"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        with transaction(conn):
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
    return len(MIGRATIONS)
