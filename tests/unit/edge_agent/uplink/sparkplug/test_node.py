"""The Sparkplug dialect's state machine, message by message, decoded independently."""

from __future__ import annotations

import itertools
from pathlib import Path

from edge_agent.records import AlarmState
from edge_agent.uplink.sparkplug.node import SparkplugDialect
from rules.events import PointMeta
from tests.unit.edge_agent.uplink.dialect_support import (
    alarm_row,
    config,
    store,
    telemetry_row,
    transition,
)  # fmt: skip
from tests.unit.edge_agent.uplink.sparkplug.wire import decode, metrics

POINTS = [PointMeta("pt-101", "pressure", "pressure", "MPa", 0.0, 1.6)]


def dialect(tmp_path: Path) -> SparkplugDialect:
    return SparkplugDialect(config(tmp_path, "sparkplug-b"), store(tmp_path), "9.9", POINTS)


def kinds(messages: list) -> list[str]:  # type: ignore[type-arg]
    return [m.topic.split("/")[2] for m in messages]


def test_bdseq_goes_up_per_connection_and_survives_a_restart(tmp_path: Path) -> None:
    first = dialect(tmp_path)
    wills = [metrics(first.will().payload)["bdSeq"]["value"] for _ in range(3)]
    first.store.close()
    again = dialect(tmp_path)
    assert [*wills, metrics(again.will().payload)["bdSeq"]["value"]] == [0, 1, 2, 3]
    birth = again.birth()
    assert kinds(birth) == ["NBIRTH", "DBIRTH"]
    assert metrics(birth[0].payload)["bdSeq"]["value"] == 3


def test_seq_runs_0_to_255_and_wraps(tmp_path: Path) -> None:
    d = dialect(tmp_path)
    d.will()
    seqs = [decode(m.payload)["seq"] for m in d.birth()]
    for i in range(300):
        seqs += [
            decode(m.payload)["seq"]
            for m in d.telemetry(telemetry_row(i, "pt-101", i, {"pressure": 0.3}))
        ]
    assert seqs[:3] == [0, 1, 2]
    assert seqs[256:259] == [0, 1, 2]
    assert all(b == (a + 1) % 256 for a, b in itertools.pairwise(seqs))


def test_a_dead_device_sends_nothing_until_it_answers_then_is_born_again(tmp_path: Path) -> None:
    d = dialect(tmp_path)
    d.will()
    d.birth()
    off = transition("pt-101", "_device", rule="offline", kind="device", level=3)
    assert kinds(d.alarm(alarm_row(1, off))) == ["DDATA", "DDEATH"]
    assert d.telemetry(telemetry_row(2, "pt-101", 5, {"pressure": float("nan")})) == []
    back = d.telemetry(telemetry_row(3, "pt-101", 6, {"pressure": 0.31}))
    assert kinds(back) == ["DBIRTH", "DDATA"]


def test_a_point_no_birth_named_births_the_device_again(tmp_path: Path) -> None:
    d = dialect(tmp_path)
    d.will()
    d.birth()
    out = d.telemetry(telemetry_row(1, "pt-101", 5, {"pressure": 0.3, "temperature": 21.0}))
    assert kinds(out) == ["DBIRTH", "DDATA"]
    assert {"pressure", "temperature", "Alarm/temperature/state"} <= metrics(out[0].payload).keys()


def test_alarm_metrics_and_the_gateways_own_alarms(tmp_path: Path) -> None:
    d = dialect(tmp_path)
    d.will()
    d.birth()
    out = d.alarm(alarm_row(1, transition(state=AlarmState.LEVEL_CHANGED, level=1)))
    m = metrics(out[-1].payload)
    assert (m["Alarm/pressure/state"]["value"], m["Alarm/pressure/level"]["value"]) == (
        "level-changed", 1,
    )  # fmt: skip
    assert m["Alarm/pressure/eta_s"]["is_null"] is True
    own = d.alarm(alarm_row(2, transition("gw-1", "_buffer", rule="buffer.recovered")))
    assert kinds(own) == ["NDATA"]
    assert metrics(own[0].payload)["Alarm/_gateway/rule"]["value"] == "buffer.recovered"


def test_dbirth_carries_the_active_alarm_of_each_slot(tmp_path: Path) -> None:
    d = dialect(tmp_path)
    d.store.add_alarms([transition()], "gw-1")
    d.will()
    dbirth = metrics(d.birth()[1].payload)
    assert dbirth["Alarm/pressure/id"]["value"] == "a-1"
    assert dbirth["Alarm/_device/id"]["is_null"] is True


def test_a_device_offline_at_birth_is_born_only_when_it_answers(tmp_path: Path) -> None:
    d = dialect(tmp_path)
    off = transition("pt-101", "_device", rule="offline", kind="device", level=3)
    d.store.add_alarms([off], "gw-1")
    d.will()
    assert kinds(d.birth()) == ["NBIRTH"]
    assert d.telemetry(telemetry_row(1, "pt-101", 5, {"pressure": float("nan")})) == []
    assert kinds(d.telemetry(telemetry_row(2, "pt-101", 6, {"pressure": 0.3}))) == [
        "DBIRTH", "DDATA",
    ]  # fmt: skip
