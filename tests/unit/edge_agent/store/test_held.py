"""Readings held in memory while the database has no room: bounded, oldest dropped first,
counted (with a seq gap) once a commit succeeds; alarms never dropped. The database is
made full for real with SQLite's `max_page_count` (SQLITE_FULL, "database or disk is
full"); tests/integration/test_faults.py fills a real filesystem."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from edge_agent.records import AlarmState
from edge_agent.store import Store, StoreError
from edge_agent.store.held import HeldPolls
from edge_agent.uplink.payloads import STORED_READINGS
from tests.unit.edge_agent.store.test_store import GW, poll, transition


def test_held_polls_drop_the_oldest_beyond_the_bound() -> None:
    held = HeldPolls(max_readings=100)
    for i in range(15):
        p = poll("d", 1000 + i, *([1.0] * 10))
        held.add(p, GW, p.readings)
    assert held.readings == 100
    assert (held.dropped_messages, held.dropped_readings) == (5, 50)
    assert [p.ts_ms for p, _, _ in held.polls] == list(range(1005, 1015))


def cap_pages(store: Store, extra_pages: int) -> None:
    pages = int(store.conn.execute("PRAGMA page_count").fetchone()[0])
    store.conn.execute(f"PRAGMA max_page_count = {pages + extra_pages}")


def no_room(max_bytes: int) -> None:
    raise sqlite3.OperationalError("database or disk is full")


def full_of_alarms(tmp_path: Path) -> Store:
    """A store whose database is full of owed alarm events (which no cap may drop)."""
    store = Store.open(
        tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0, max_held_readings=200
    )
    store.add_alarms([transition(f"sealed-{i}", AlarmState.RAISED) for i in range(3)], GW)
    assert len(store.pending(10)) == 3  # sealed: these can go out whatever the disk says
    cap_pages(store, 4)
    for i in range(10_000):
        try:
            store.add_alarms([transition(f"a-{i}", AlarmState.RAISED)], GW)
        except StoreError:
            return store
    raise AssertionError("the database never filled up")


def test_a_full_disk_holds_readings_within_the_bound_and_counts_the_drops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = full_of_alarms(tmp_path)
    # On a full disk making room fails too (deleting needs room in the WAL): that part
    # cannot be made with max_page_count, which frees pages on delete.
    monkeypatch.setattr(store, "enforce_cap", no_room)
    for i in range(100):
        with contextlib.suppress(StoreError):
            store.add_poll(poll("d", 5000 + i, 1.0, 2.0, 3.0), GW)
    stats = store.stats()
    assert stats["held_readings"] == 198
    # every poll is stored (while some page had room), held, or dropped and counted
    assert stats["dropped_messages"] > 0
    assert stats["pending_telemetry"] + 66 + stats["dropped_messages"] == 100
    assert stats["dropped_readings"] == 3 * stats["dropped_messages"]
    # what is sealed can still be read and sent; no raw sqlite3 error
    rows = store.pending(50)
    assert rows
    assert all(r.kind == "alarm" for r in rows)
    before = store.stats()["next_seq"]
    store.conn.execute("PRAGMA max_page_count = 1000000")  # space freed
    assert store.flush() == 66
    after = store.stats()
    assert after["held_readings"] == 0
    assert after["dropped_messages"] == stats["dropped_messages"]  # now in the database
    assert after["next_seq"] == before + stats["dropped_messages"]  # a gap, never reuse
    store.close()


def test_alarms_go_alone_when_the_readings_held_with_them_do_not_fit(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=60)
    for i in range(400):
        store.add_poll(poll("d", 1000 + i, *([float(i)] * 20)), GW)  # held: not due yet
    cap_pages(store, 30)
    store.add_alarms([transition("a-1", AlarmState.RAISED)], GW)
    assert [r.kind for r in store.pending(10)] == ["alarm"]
    assert store.stats()["held_readings"] == 400 * 20
    store.close()


def test_making_room_that_fails_is_a_store_error_not_a_raw_sqlite_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = full_of_alarms(tmp_path)
    monkeypatch.setattr(store, "enforce_cap", no_room)
    with pytest.raises(StoreError, match="no room could be made"):
        store.add_alarms([transition("a-x", AlarmState.RAISED)], GW)
    store.close()
