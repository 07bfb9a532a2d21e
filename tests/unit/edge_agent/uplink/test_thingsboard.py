"""The ThingsBoard dialect's payloads."""

from __future__ import annotations

import json
from pathlib import Path

from edge_agent.uplink.thingsboard import ThingsboardDialect
from tests.unit.edge_agent.uplink.dialect_support import (
    alarm_row,
    config,
    store,
    telemetry_row,
    transition,
)  # fmt: skip


def test_quality_keys_only_when_the_quality_changes(tmp_path: Path) -> None:
    d = ThingsboardDialect(config(tmp_path, "thingsboard"), store(tmp_path), "9.9")
    sent = []
    for i, v in enumerate([0.3, 0.31, float("nan"), float("nan"), 0.32]):
        for m in d.telemetry(telemetry_row(i, "pt-101", i, {"pressure": v})):
            sent.append(json.loads(m.payload)["pt-101"][0]["values"])
    assert sent == [
        {"pressure": 0.3},
        {"pressure": 0.31},
        {"pressure_quality": "bad", "pressure_reason": "timeout"},
        {"pressure_reason": "timeout"},
        {"pressure": 0.32, "pressure_quality": "good"},
    ]


def test_an_alarm_of_the_gateway_itself_is_its_own_telemetry(tmp_path: Path) -> None:
    d = ThingsboardDialect(config(tmp_path, "thingsboard"), store(tmp_path), "9.9")
    (out,) = d.alarm(alarm_row(1, transition("gw-1", "_buffer", rule="buffer.recovered")))
    assert out.topic == "v1/devices/me/telemetry"
    assert json.loads(out.payload)["values"]["alarm_rule"] == "buffer.recovered"


def test_health_is_flattened_to_scalar_keys(tmp_path: Path) -> None:
    d = ThingsboardDialect(config(tmp_path, "thingsboard"), store(tmp_path), "9.9")
    (out,) = d.health({"uptime_s": 5, "buffer": {"pending": 3, "recovered_from": None},
                       "buses": {"b1": {"requests": 7}}, "mode": "normal"})  # fmt: skip
    assert json.loads(out.payload)["values"] == {
        "uptime_s": 5, "buffer.pending": 3, "buses.b1.requests": 7, "mode": "normal",
    }  # fmt: skip
