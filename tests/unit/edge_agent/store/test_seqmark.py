"""seq stays unique for the gateway's life across database loss (real SQLite files)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from edge_agent.store import Store
from edge_agent.store.seqmark import SeqMark, mark_path
from edge_agent.uplink.payloads import STORED_READINGS
from tests.unit.edge_agent.store.test_store import GW, poll


def open_store(db: Path, **kw: float) -> Store:
    return Store.open(db, codec=STORED_READINGS, commit_interval_s=0, **kw)


def publish(store: Store, n: int, t0: int = 1000) -> list[int]:
    """n messages from n devices, sealed (handed out) and acknowledged."""
    for i in range(n):
        store.add_poll(poll(f"d{i}", t0 + i, 1.0), GW)
    seqs = [r.seq for r in store.pending(100)]
    store.delete(seqs)
    return seqs


def crash(store: Store) -> None:
    """Gone without close(): as a SIGKILL or a power cut leaves it."""
    store.conn.close()


def remove_db(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)


def test_a_clean_restart_continues_seq_without_a_gap(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    store = open_store(db)
    assert publish(store, 3) == [1, 2, 3]
    store.close()
    assert SeqMark(mark_path(db)).value == 4
    store = open_store(db)
    assert publish(store, 2, t0=5000) == [4, 5]
    store.close()


def test_buffer_db_deleted_between_runs_never_reuses_a_seq(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    used: list[int] = []
    for _ in range(3):
        store = open_store(db)
        used += publish(store, 4)
        crash(store)
        remove_db(db)  # and after a crash, too: the mark file beside it stays
    store = open_store(db)
    used += publish(store, 4)
    store.close()
    assert len(set(used)) == len(used), used
    assert used == sorted(used)


def test_lost_commits_of_a_damaged_wal_never_reuse_a_seq(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    store = open_store(db)
    early = publish(store, 2)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    snapshot = tmp_path / "snapshot.db"
    shutil.copy2(db, snapshot)  # the database as it was before the later commits
    later = publish(store, 5, t0=9000)
    crash(store)
    remove_db(db)
    shutil.copy2(snapshot, db)  # the WAL with the later commits is lost
    store = open_store(db)
    again = publish(store, 3, t0=20_000)
    store.close()
    assert min(again) > max(early + later)


def test_buffer_db_deleted_under_a_running_store_is_written_back(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    store = open_store(db, file_check_s=0)
    first = publish(store, 3)
    for i in range(4):  # owed, not yet sealed
        store.add_poll(poll(f"e{i}", 7000 + i, 2.0), GW)
    remove_db(db)
    store.add_poll(poll("late", 8000, 3.0), GW)  # the next write notices
    assert db.exists()
    assert store.file_restores == 1
    rows = store.pending(100)
    assert len(rows) == 5  # nothing owed was lost
    assert min(r.seq for r in rows) > max(first)
    crash(store)
    with sqlite3.connect(db) as check:  # what a restart would find
        (n,) = check.execute("SELECT count(*) FROM outbox").fetchone()
    assert n == 5
    store = open_store(db)
    assert store.file_restores == 0
    resent = store.pending(100)  # sealed, not acknowledged: resent with the same seq
    assert [r.seq for r in resent] == [r.seq for r in rows]
    store.delete([r.seq for r in resent])
    (new,) = publish(store, 1, t0=30_000)
    assert new > max(r.seq for r in rows)
    store.close()
