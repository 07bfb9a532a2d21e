"""Action events in the store on real SQLite files: the outbox rebuilt for kind 'action'
keeps what a buffer of the previous schema owed, events seal in order with alarms and
before telemetry, and what was taken or left under way survives a reopen."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge_agent.records import ActionEvent, ActionState, AlarmState
from edge_agent.store import Store
from edge_agent.store.migrations import MIGRATIONS
from edge_agent.uplink.payloads import STORED_READINGS
from tests.unit.edge_agent.store.test_store import GW, poll, transition


def event(eid: str, state: ActionState, point: str = "relay1", alarm: str | None = "a-1"
          ) -> ActionEvent:  # fmt: skip
    return ActionEvent(eid, 1000, "io-7", point, "vent", alarm, 1.0, state)


def open_store(db: Path) -> Store:
    return Store.open(db, codec=STORED_READINGS, commit_interval_s=0)


def test_outbox_rebuilt_for_actions_keeps_what_was_owed(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[0] + MIGRATIONS[1] + "PRAGMA user_version=2;")
    conn.execute(
        "INSERT INTO outbox(seq, kind, gateway, device, n, reading_lo, body, created_ms) "
        "VALUES (7, 'telemetry', 'gw-1', 'pt-1', 1, 1, '{\"ts\":1}', 5)"
    )
    conn.execute("UPDATE meta SET value = 8 WHERE key = 'next_seq'")
    conn.commit()
    conn.close()
    store = open_store(db)
    store.finish_action(event("e-1", ActionState.DONE), GW)
    old, new = store.pending(10)
    assert (old.seq, old.kind, old.body) == (7, "telemetry", '{"ts":1}')
    assert (new.seq, new.kind, new.action) == (8, "action", event("e-1", ActionState.DONE))
    assert store.stats()["pending_actions"] == 1
    store.close()


def test_action_events_seal_with_alarms_in_order_before_telemetry(tmp_path: Path) -> None:
    store = open_store(tmp_path / "buffer.db")
    store.add_poll(poll("pt-1", 1000, 1.0), GW)
    store.flush()
    store.add_alarms([transition("a-1", AlarmState.RAISED)], GW)
    store.finish_action(event("e-1", ActionState.DRY_RUN), GW)
    store.add_alarms([transition("a-1", AlarmState.CLEARED)], GW)
    rows = store.pending(10)
    assert [r.kind for r in rows] == ["alarm", "action", "alarm", "telemetry"]
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    store.close()


def test_taken_and_pending_survive_a_reopen(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    store = open_store(db)
    note = store.begin_action(event("e-1", ActionState.PENDING))
    store.finish_action(event("e-2", ActionState.BLOCKED, point="relay2"), GW)
    store.finish_action(event("e-3", ActionState.DONE, point="relay3", alarm="a-2"), GW)
    store.close()
    store = open_store(db)
    # Pending counts as taken (a write may have gone out); blocked does not.
    assert store.actions_taken(["a-1", "a-2"]) == {("vent", "a-1", "io-7/relay1"),
                                                    ("vent", "a-2", "io-7/relay3")}  # fmt: skip
    assert store.pending_actions() == [(note, event("e-1", ActionState.PENDING))]
    assert [r.kind for r in store.pending(10)] == ["action", "action"]  # pending is not owed
    store.finish_action(event("e-1", ActionState.DONE), GW, note)
    assert store.pending_actions() == []
    assert [e.event_id for e in store.recent_actions(10)] == ["e-3", "e-2", "e-1"]
    store.close()
