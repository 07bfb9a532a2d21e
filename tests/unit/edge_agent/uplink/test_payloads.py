"""Payload shapes and encodings, topic names, reconnect backoff: pure functions."""

from __future__ import annotations

import json
import math

import msgpack
import pytest

from edge_agent.records import AlarmState, AlarmTransition, Evidence, Member, Reading
from edge_agent.uplink.drain import backoff_s
from edge_agent.uplink.payloads import (
    Encoder,
    alarm_event,
    alarms_snapshot,
    decode,
    readings_fragment,
)
from edge_agent.uplink.topics import Topics

READINGS = (
    Reading("pt-1", "pressure", 1000, 0.25, "good"),
    Reading("pt-1", "temp", 1000, math.nan, "bad", "timeout"),
    Reading("pt-1", "flow", 1000, math.inf, "uncertain", None),
)


def test_telemetry_is_the_same_schema_in_json_and_msgpack() -> None:
    fragment = readings_fragment(READINGS)
    as_json = json.loads(Encoder("json").telemetry(7, "gw", "pt-1", fragment))
    as_msgpack = msgpack.unpackb(Encoder("msgpack").telemetry(7, "gw", "pt-1", fragment))
    assert as_json == as_msgpack == {
        "seq": 7,
        "gateway": "gw",
        "device": "pt-1",
        "readings": [
            {"ts": 1000, "point": "pressure", "value": 0.25, "quality": "good"},
            {"ts": 1000, "point": "temp", "value": None, "quality": "bad", "reason": "timeout"},
            {"ts": 1000, "point": "flow", "value": None, "quality": "uncertain",
             "reason": "unknown"},
        ],
    }  # fmt: skip


def test_joined_fragments_are_one_valid_readings_array() -> None:
    joined = ",".join([readings_fragment(READINGS[:1]), readings_fragment(READINGS[1:])])
    msg = json.loads(Encoder("json").telemetry(1, "gw", "pt-1", joined))
    assert [r["point"] for r in msg["readings"]] == ["pressure", "temp", "flow"]


def test_alarm_event_has_seq_from_the_row_and_null_for_nan() -> None:
    t = AlarmTransition(
        "a-1", 5, "pt-1", "pressure", "r", "trend", 2, AlarmState.RAISED, math.nan, 0.2, "MPa",
        eta_s=math.inf,
    )  # fmt: skip
    legacy = json.dumps(alarm_event(t, "gw"))  # as edge-agent 0.1 kept it in the outbox
    for fmt in ("json", "msgpack"):
        encoder = Encoder(fmt)  # type: ignore[arg-type]
        for data in (encoder.alarm(42, t, "gw"), encoder.stored_alarm(42, legacy)):
            event = decode(data, fmt)  # type: ignore[arg-type]
            assert event["seq"] == 42
            assert event["gateway"] == "gw"
            assert event["value"] is None
            assert event["eta_s"] is None
            assert event["state"] == "raised"
    snap = alarms_snapshot([t], "gw", 9)
    assert "seq" not in snap["alarms"][0]


def test_json_encoder_refuses_nan_rather_than_emit_invalid_json() -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        Encoder("json").encode({"value": math.nan})


def test_topics_and_command_names() -> None:
    t = Topics.build("lifeline/cn", "qingdao", "gw-1")
    assert t.status == "lifeline/cn/qingdao/gw-1/status"
    assert t.alarm("pt-1", "pressure") == "lifeline/cn/qingdao/gw-1/alarm/pt-1/pressure"
    assert t.telemetry("pt-1") == "lifeline/cn/qingdao/gw-1/telemetry/pt-1"
    assert t.commands == "lifeline/cn/qingdao/gw-1/cmd/+"
    assert t.command_name("lifeline/cn/qingdao/gw-1/cmd/ping") == "ping"
    assert t.command_name("lifeline/cn/qingdao/gw-1/cmd/ping/reply") is None
    assert t.command_name("lifeline/cn/qingdao/gw-2/cmd/ping") is None
    assert t.command_name("lifeline/cn/qingdao/gw-1/cmd/") is None


def test_backoff_grows_with_jitter_and_stays_under_the_cap() -> None:
    first = [backoff_s(0, 0.5, 60) for _ in range(200)]
    later = [backoff_s(20, 0.5, 60) for _ in range(200)]
    assert all(0.25 <= d <= 0.5 for d in first)
    assert all(30 <= d <= 60 for d in later)
    assert len(set(later)) > 100, "jittered, so a fleet does not reconnect in step"


def test_alarm_event_carries_evidence_with_members_in_both_encodings() -> None:
    ev = Evidence(window_s=300.0, baseline=0.4, delta=-0.1, eta_s=float("nan"),
                  members=(Member("pt-2", "pressure", "drop", 990, 0.29, -0.11),))  # fmt: skip
    t = AlarmTransition("a-1", 1000, "pt-2", "pressure", "water.burst", "composite", 1,
                        AlarmState.RAISED, 0.29, 0.07, "MPa", evidence=ev)  # fmt: skip
    for fmt in ("json", "msgpack"):
        msg = decode(Encoder(fmt).alarm(1, t, "gw"), fmt)  # type: ignore[arg-type]
        assert msg["evidence"] == {
            "window_s": 300.0, "baseline": 0.4, "delta": -0.1, "slope": None, "eta_s": None,
            "members": [{"device": "pt-2", "point": "pressure", "rule": "drop", "ts": 990,
                         "value": 0.29, "delta": -0.11}],
        }  # fmt: skip
    cleared = AlarmTransition("a-1", 2000, "pt-2", "pressure", "water.burst", "composite", 1,
                              AlarmState.CLEARED, 0.4, 0.07, "MPa")  # fmt: skip
    assert "evidence" not in alarm_event(cleared, "gw")
