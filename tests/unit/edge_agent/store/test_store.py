"""The store on real SQLite files: seq, durability, sealing, deletes, active alarms."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from edge_agent.clock import now_ms
from edge_agent.records import AlarmState, AlarmTransition, DevicePoll, Evidence, Member, Reading
from edge_agent.store import Store, StoreError
from edge_agent.store.migrations import MIGRATIONS
from edge_agent.uplink.payloads import STORED_READINGS

GW = "gw-1"


def poll(device: str, ts_ms: int, *values: float) -> DevicePoll:
    readings = tuple(
        Reading(
            device,
            f"p{i}",
            ts_ms,
            v,
            "good" if v == v else "bad",
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
    store = Store.open(db, codec=STORED_READINGS, commit_interval_s=0)
    for i in range(3):
        store.add_poll(poll(f"d{i}", 1000 + i, 1.0), GW)
    first = store.pending(10)
    assert [r.seq for r in first] == [1, 2, 3]
    store.delete([r.seq for r in first])
    store.close()

    store = Store.open(db, codec=STORED_READINGS, commit_interval_s=0)
    store.add_poll(poll("d0", 2000, 2.0), GW)
    store.add_alarms([transition("a-1", AlarmState.RAISED)], GW)
    assert [r.seq for r in store.pending(10)] == [4, 5]
    store.close()


def test_alarm_is_committed_before_it_can_be_pending(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    store = Store.open(db, codec=STORED_READINGS, commit_interval_s=60)
    store.add_alarms([transition("a-1", AlarmState.RAISED)], GW)
    # Another connection sees it at once: it is on disk, not in a buffer.
    other = sqlite3.connect(db)
    assert other.execute("SELECT count(*) FROM outbox WHERE kind = 'alarm'").fetchone() == (1,)
    assert other.execute("SELECT alarm_id FROM alarms").fetchall() == [("a-1",)]
    other.close()
    rows = store.pending(10)
    assert [(r.kind, r.seq) for r in rows] == [("alarm", 1)]
    alarm = rows[0].alarm
    assert alarm is not None
    assert alarm.alarm_id == "a-1"
    assert alarm.state is AlarmState.RAISED
    assert rows[0].body == "", "the store keeps the fact; the uplink encodes it at send"
    store.close()


def test_readings_wait_for_the_commit_interval_then_flush(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    store = Store.open(db, codec=STORED_READINGS, commit_interval_s=60)
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
    store = Store.open(db, codec=STORED_READINGS, commit_interval_s=0)
    store.add_alarms([transition("a-1", AlarmState.RAISED)], GW)
    store.add_poll(poll("d0", 1000, 1.0), GW)
    store.add_poll(poll("d1", 1000, 2.0), GW)
    rows = store.pending(10)
    assert [r.seq for r in rows] == [1, 2, 3]
    store.delete([2])
    store.close()

    store = Store.open(db, codec=STORED_READINGS, commit_interval_s=0)
    again = store.pending(10)
    assert [(r.seq, r.body, r.alarm) for r in again] == [
        (r.seq, r.body, r.alarm) for r in rows if r.seq != 2
    ]
    assert store.depth() == 2
    store.close()


def test_alarms_are_sealed_before_an_older_telemetry_backlog(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    store.add_poll(poll("d0", 1000, 1.0), GW)
    store.add_alarms([transition("a-1", AlarmState.RAISED)], GW)
    rows = store.pending(10)
    assert [(r.seq, r.kind) for r in rows] == [(1, "alarm"), (2, "telemetry")]
    store.close()


def test_backlog_of_one_device_is_joined_within_the_size_bound(tmp_path: Path) -> None:
    store = Store.open(
        tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0, max_message_bytes=2000
    )
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
    store = Store.open(db, codec=STORED_READINGS, commit_interval_s=0)
    store.add_alarms([transition("a-1", AlarmState.RAISED, 1000, 3)], GW)
    store.add_alarms([transition("a-2", AlarmState.RAISED, 1001, 2)], GW)
    store.add_alarms([transition("a-1", AlarmState.LEVEL_CHANGED, 1002, 1)], GW)
    store.add_alarms([transition("a-2", AlarmState.CLEARED, 1003, 2)], GW)
    store.close()
    store = Store.open(db, codec=STORED_READINGS, commit_interval_s=0)
    active = store.active_alarms()
    assert [(a.alarm_id, a.state, a.level) for a in active] == [
        ("a-1", AlarmState.LEVEL_CHANGED, 1)
    ]
    store.close()


def test_tiny_cap_drops_oldest_telemetry_keeps_alarms_and_leaves_a_seq_gap(
    tmp_path: Path,
) -> None:
    store = Store.open(
        tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0, max_message_bytes=4096
    )
    store.add_alarms([transition("a-early", AlarmState.RAISED)], GW)
    for i in range(2000):
        store.add_poll(poll(f"d{i % 4}", 1000 + i, float(i), float(i) / 2), GW)
        if i == 1000:
            store.add_alarms([transition("a-mid", AlarmState.RAISED)], GW)
    head = store.pending(2)  # the alarms are sealed first: seq 1 and 2
    assert [(r.kind, r.seq) for r in head] == [("alarm", 1), ("alarm", 2)]
    before = store.size_bytes()
    cap = before // 3
    trimmed = store.enforce_cap(cap)
    assert store.size_bytes() <= cap
    assert trimmed.dropped_messages > 0
    stats = store.stats()
    assert stats["dropped_messages"] == trimmed.dropped_messages
    assert stats["dropped_readings"] == trimmed.dropped_readings == 2 * trimmed.dropped_messages
    rows = store.pending(100_000)
    kinds = [r.kind for r in rows]
    assert kinds[:2] == ["alarm", "alarm"]  # both alarms kept, sent first
    readings = [json.loads(f"[{r.body}]") for r in rows if r.kind == "telemetry"]
    values = sorted(x["value"] for batch in readings for x in batch if x["point"] == "p0")
    # What survived is the newest telemetry: a suffix of what was written.
    assert values == [float(i) for i in range(2000 - len(values), 2000)]
    # The loss shows as a gap in seq right after the alarms sealed before it.
    seqs = [r.seq for r in rows]
    assert seqs[:2] == [1, 2]
    assert seqs[2] == 3 + trimmed.dropped_messages
    store.close()


def test_cap_prunes_delivered_history_before_dropping_owed_telemetry(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    for i in range(3000):
        store.add_poll(poll("d0", 1000 + i, float(i), 1.0, 2.0), GW)
    store.delete([r.seq for r in store.pending(100_000)])  # all delivered
    for i in range(10):
        store.add_poll(poll("d0", 5000 + i, float(i)), GW)
    trimmed = store.enforce_cap(store.size_bytes() // 2)
    assert trimmed.pruned_readings > 0
    assert trimmed.dropped_messages == 0
    assert store.stats()["pending_readings"] == 10
    store.close()


def test_retention_prunes_only_delivered_old_readings(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    store = Store.open(db, codec=STORED_READINGS, commit_interval_s=0)
    store.add_poll(poll("d0", 1000, 1.0), GW)  # delivered, old
    store.delete([r.seq for r in store.pending(10)])
    store.add_poll(poll("d1", 1000, 2.0), GW)  # old but still owed
    store.add_poll(poll("d2", now_ms(), 3.0), GW)  # recent
    store.add_alarms([transition("a-1", AlarmState.CLEARED, ts_ms=1000)], GW)
    assert store.prune(retention_s=3600) == 1
    conn = sqlite3.connect(db)
    assert sorted(r[0] for r in conn.execute("SELECT device FROM readings")) == ["d1", "d2"]
    assert conn.execute("SELECT count(*) FROM alarms").fetchone() == (0,)
    conn.close()
    store.close()


def test_corrupt_database_is_moved_aside_and_a_fresh_one_starts(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    store = Store.open(db, codec=STORED_READINGS, commit_interval_s=0)
    for i in range(50):
        store.add_poll(poll("d0", 1000 + i, float(i)), GW)
    store.pending(10)
    store.close()
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # smash the schema page
    db.write_bytes(bytes(data))

    store = Store.open(db, codec=STORED_READINGS, commit_interval_s=0)
    assert store.recovery is not None
    assert store.recovery.moved_to.exists()
    assert store.recovery.moved_to.name.startswith("buffer.db.corrupt-")
    assert store.recovery.reason
    store.add_poll(poll("d0", 9000, 1.0), GW)
    (row,) = store.pending(10)
    assert row.seq > 10**12  # far above any seq used before: a gap, never a repeat
    store.close()
    again = Store.open(db, codec=STORED_READINGS, commit_interval_s=0)
    assert again.recovery is None
    again.close()


def test_garbage_file_is_recovered_too(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    db.write_bytes(b"this is not a database" * 100)
    store = Store.open(db, codec=STORED_READINGS, commit_interval_s=0)
    assert store.recovery is not None
    assert "not a database" in store.recovery.reason
    store.close()


def test_unopenable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open buffer database"):
        Store.open(blocker / "buffer.db", codec=STORED_READINGS)


def test_full_database_makes_room_for_an_alarm_by_dropping_old_telemetry(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    # A database that may not grow is what a full disk looks like to SQLite (SQLITE_FULL).
    store.conn.execute(f"PRAGMA max_page_count={pages + 60}")
    for i in range(3000):  # far more than fits: old telemetry makes way, no error
        store.add_poll(poll(f"d{i % 3}", 1000 + i, float(i), 2.0, 3.0), GW)
    assert store.stats()["dropped_messages"] > 0
    kept = [
        x["value"]
        for r in store.pending(100_000)
        for x in json.loads(f"[{r.body}]")
        if x["point"] == "p0"
    ]
    assert max(kept) == 2999.0
    assert min(kept) > 0.0, "the oldest went first"
    store.add_alarms([transition("a-1", AlarmState.RAISED)], GW)
    assert [a.alarm_id for a in store.active_alarms()] == ["a-1"]
    assert [r.kind for r in store.pending(100_000)][-1] == "alarm"
    store.close()


def test_newer_schema_is_a_clear_error_and_the_file_stays(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    Store.open(db, codec=STORED_READINGS).close()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(StoreError, match="newer than this edge-agent"):
        Store.open(db, codec=STORED_READINGS)
    assert db.exists()
    assert not list(tmp_path.glob("buffer.db.corrupt-*"))


def test_a_locked_database_is_not_mistaken_for_a_damaged_one(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    Store.open(db, codec=STORED_READINGS).close()
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("PRAGMA journal_mode=DELETE")  # a rollback journal: a writer locks readers out
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            Store.open(db, codec=STORED_READINGS)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert not list(tmp_path.glob("buffer.db.corrupt-*"))


def test_an_alarm_owed_by_a_0_1_buffer_still_goes_out_after_the_upgrade(tmp_path: Path) -> None:
    """edge-agent 0.1 kept an alarm event's JSON in the outbox; an upgrade keeps buffer.db,
    so such a row must come out of the new store as it was (the uplink sends its body)."""
    db = tmp_path / "buffer.db"
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[0] + "PRAGMA user_version=1;")
    body = '{"id":"a-old","ts":5,"gateway":"gw-1","device":"pt-1","point":"pressure"}'
    conn.execute(
        "INSERT INTO outbox(kind, gateway, device, point, n, body, created_ms) "
        "VALUES ('alarm', 'gw-1', 'pt-1', 'pressure', 1, ?, 5)",
        (body,),
    )
    conn.commit()
    conn.close()
    store = Store.open(db, codec=STORED_READINGS, commit_interval_s=0)
    store.add_alarms([transition("a-new", AlarmState.RAISED)], GW)
    old, new = store.pending(10)
    assert (old.seq, old.alarm, old.body) == (1, None, body)
    assert new.seq == 2
    assert new.alarm is not None
    assert new.alarm.alarm_id == "a-new"
    store.close()


def test_evidence_is_kept_with_its_transition_and_survives_reopen(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    ev = Evidence(window_s=300.0, baseline=0.4, delta=-0.1,
                  members=(Member("pt-1", "pressure", "drop", 990, 0.3, -0.1),))  # fmt: skip
    store = Store.open(db, codec=STORED_READINGS, commit_interval_s=0)
    store.add_alarms([replace(transition("a-1", AlarmState.RAISED), evidence=ev)], GW)
    store.add_alarms([transition("a-1", AlarmState.CLEARED, 2000)], GW)
    store.close()
    store = Store.open(db, codec=STORED_READINGS, commit_interval_s=0)
    raised, cleared = sorted(store.recent_alarms(2), key=lambda t: t.ts_ms)
    assert raised.evidence == ev
    assert cleared.evidence is None
    (row, _) = store.pending(10)
    assert row.alarm is not None
    assert row.alarm.evidence == ev
    store.close()


def test_learned_baselines_survive_reopen_and_replace_by_rule_and_point(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    store = Store.open(db, codec=STORED_READINGS, commit_interval_s=0)
    assert store.load_baselines() == {}
    store.save_baselines({("flow.high", "fm-1/flow"): {"mean": [1.0, 2.0], "days": [3, 0]}})
    store.save_baselines({("flow.high", "fm-1/flow"): {"mean": [1.5, 2.0], "days": [4, 0]},
                          ("flow.high", "fm-2/flow"): {"mean": [9.0], "days": [1]}})  # fmt: skip
    store.close()
    store = Store.open(db, codec=STORED_READINGS, commit_interval_s=0)
    assert store.load_baselines() == {
        ("flow.high", "fm-1/flow"): {"mean": [1.5, 2.0], "days": [4, 0]},
        ("flow.high", "fm-2/flow"): {"mean": [9.0], "days": [1]},
    }
    store.close()
