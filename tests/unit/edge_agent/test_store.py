"""The store on real SQLite files: seq, durability, sealing, deletes, active alarms."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from edge_agent.records import AlarmState, AlarmTransition, DevicePoll, Quality, Reading
from edge_agent.store import Store

GW = "gw-1"


def poll(device: str, ts_ms: int, *values: float) -> DevicePoll:
    readings = tuple(
        Reading(
            device,
            f"p{i}",
            ts_ms,
            v,
            Quality.GOOD if v == v else Quality.BAD,
            None if v == v else "timeout",
        )
        for i, v in enumerate(values)
    )
    return DevicePoll(device, ts_ms, readings, ok=True)


def transition(
    alarm_id: str, state: AlarmState, ts_ms: int = 1000, level: int = 2
) -> AlarmTransition:
    return AlarmTransition(
        alarm_id=alarm_id,
        ts_ms=ts_ms,
        device="pt-1",
        point="pressure",
        rule="water.low",
        kind="threshold",
        level=level,
        state=state,
        value=0.1,
        limit=0.2,
        unit="MPa",
    )


def test_seq_increases_by_one_and_survives_reopen(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    store = Store.open(db, commit_interval_s=0)
    for i in range(3):
        store.add_poll(poll(f"d{i}", 1000 + i, 1.0), GW)
    first = store.pending(10)
    assert [r.seq for r in first] == [1, 2, 3]
    store.delete([r.seq for r in first])
    store.close()

    store = Store.open(db, commit_interval_s=0)
    store.add_poll(poll("d0", 2000, 2.0), GW)
    store.add_alarms([transition("a-1", AlarmState.RAISED)], GW)
    assert [r.seq for r in store.pending(10)] == [4, 5]
    store.close()


def test_alarm_is_committed_before_it_can_be_pending(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    store = Store.open(db, commit_interval_s=60)
    store.add_alarms([transition("a-1", AlarmState.RAISED)], GW)
    # Another connection sees it at once: it is on disk, not in a buffer.
    other = sqlite3.connect(db)
    assert other.execute("SELECT count(*) FROM outbox WHERE kind = 'alarm'").fetchone() == (1,)
    assert other.execute("SELECT alarm_id FROM alarms").fetchall() == [("a-1",)]
    other.close()
    rows = store.pending(10)
    assert [(r.kind, r.seq) for r in rows] == [("alarm", 1)]
    event = json.loads(rows[0].body)
    assert event["id"] == "a-1"
    assert event["state"] == "raised"
    assert "seq" not in event
    store.close()


def test_readings_wait_for_the_commit_interval_then_flush(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    store = Store.open(db, commit_interval_s=60)
    store.add_poll(poll("d0", 1000, 1.0), GW)
    other = sqlite3.connect(db)
    assert other.execute("SELECT count(*) FROM readings").fetchone() == (0,)
    assert store.depth() == 1
    store.flush()
    assert other.execute("SELECT count(*) FROM readings").fetchone() == (1,)
    other.close()
    store.close()


def test_delete_removes_only_acknowledged_rows_and_resend_keeps_seq(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    store = Store.open(db, commit_interval_s=0)
    store.add_alarms([transition("a-1", AlarmState.RAISED)], GW)
    store.add_poll(poll("d0", 1000, 1.0), GW)
    store.add_poll(poll("d1", 1000, 2.0), GW)
    rows = store.pending(10)
    assert [r.seq for r in rows] == [1, 2, 3]
    store.delete([2])
    store.close()

    store = Store.open(db, commit_interval_s=0)
    again = store.pending(10)
    assert [(r.seq, r.body) for r in again] == [(r.seq, r.body) for r in rows if r.seq != 2]
    assert store.depth() == 2
    store.close()


def test_alarms_are_sealed_before_an_older_telemetry_backlog(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "buffer.db", commit_interval_s=0)
    store.add_poll(poll("d0", 1000, 1.0), GW)
    store.add_alarms([transition("a-1", AlarmState.RAISED)], GW)
    rows = store.pending(10)
    assert [(r.seq, r.kind) for r in rows] == [(1, "alarm"), (2, "telemetry")]
    store.close()


def test_backlog_of_one_device_is_joined_within_the_size_bound(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "buffer.db", commit_interval_s=0, max_message_bytes=2000)
    for i in range(100):
        store.add_poll(poll("d0", 1000 + i, float(i), float("nan")), GW)
    rows = store.pending(1000)
    assert len(rows) > 1
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    readings = []
    for r in rows:
        assert len(r.body) <= 2000
        readings += json.loads(f"[{r.body}]")
    assert len(readings) == 200 == sum(r.n for r in rows)
    assert [x["ts"] for x in readings[::2]] == list(range(1000, 1100))
    assert readings[1] == {
        "ts": 1000,
        "point": "p1",
        "value": None,
        "quality": "bad",
        "reason": "timeout",
    }
    store.close()


def test_active_alarms_are_the_latest_transition_of_uncleared_alarms(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    store = Store.open(db, commit_interval_s=0)
    store.add_alarms([transition("a-1", AlarmState.RAISED, 1000, 3)], GW)
    store.add_alarms([transition("a-2", AlarmState.RAISED, 1001, 2)], GW)
    store.add_alarms([transition("a-1", AlarmState.LEVEL_CHANGED, 1002, 1)], GW)
    store.add_alarms([transition("a-2", AlarmState.CLEARED, 1003, 2)], GW)
    store.close()
    store = Store.open(db, commit_interval_s=0)
    active = store.active_alarms()
    assert [(a.alarm_id, a.state, a.level) for a in active] == [
        ("a-1", AlarmState.LEVEL_CHANGED, 1)
    ]
    store.close()
