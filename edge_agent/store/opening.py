"""Opening buffer.db: verified pages, the schema brought up to date, and a damaged file
moved aside (never a healthy one: a locked, unreadable or full file stays where it is,
since moving it would lose what it owes)."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from edge_agent.clock import now_ms
from edge_agent.store import migrations
from edge_agent.store import seq as counters
from edge_agent.store.db import connect, transaction
from edge_agent.store.seqmark import SeqMark

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recovery:
    """A damaged buffer found at start: where it was moved, and why. The agent raises
    an alarm from this; the data in the old file was not delivered."""

    moved_to: Path
    reason: str


def open_or_recover(path: Path, mark: SeqMark) -> tuple[sqlite3.Connection, Recovery | None]:
    """The open buffer, and the Recovery if a damaged one had to be moved aside."""
    try:
        return open_checked(path), None
    except sqlite3.DatabaseError as err:
        if not is_damage(err):
            raise
        recovery = move_aside(path, str(err))
    log.error(
        "buffer database damaged, moved aside path=%s moved_to=%s reason=%s",
        path, recovery.moved_to, recovery.reason,
    )  # fmt: skip
    conn = open_checked(path)
    # The old counter is gone: restart seq far above anything used so far, so the
    # platform sees a gap (real loss); the mark makes sure it is above every seq handed
    # out even if the clock is behind.
    with transaction(conn):
        counters.set_next_seq(conn, max(now_ms() * 1000, mark.value))
    return conn, recovery


def open_checked(path: Path) -> sqlite3.Connection:
    """Open, verify the pages and bring the schema up to date; DatabaseError if damaged."""
    conn = connect(path)
    try:
        result = conn.execute("PRAGMA quick_check").fetchone()[0]
        if result != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {result}")
        migrations.migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def is_damage(err: sqlite3.DatabaseError) -> bool:
    """Corrupt or not a database: worth moving aside."""
    name = getattr(err, "sqlite_errorname", "")
    return name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or str(err).startswith("quick_check:")


def move_aside(path: Path, reason: str) -> Recovery:
    stamp = now_ms()
    moved_to = path.with_name(f"{path.name}.corrupt-{stamp}")
    path.rename(moved_to)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(moved_to.with_name(moved_to.name + suffix))
    return Recovery(moved_to, reason)
