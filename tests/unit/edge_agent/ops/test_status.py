"""The daemon's status pieces have exactly the documented shape, and render."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from drivers.settings import BusConfig
from edge_agent.cli import views
from edge_agent.config import DeviceConfig
from edge_agent.ops.status import (
    alarm_entry,
    bus_entry,
    bus_target,
    device_entry,
    summary_line,
    versions,
)
from edge_agent.records import AlarmState, AlarmTransition, Evidence
from tests.unit.edge_agent.cli.support import doc_example

NOW = 1795536067120


@dataclass
class Counters:
    polls: int = 0
    failed_polls: int = 0
    consecutive_failures: int = 0
    last_good_ts_ms: int | None = None


def bus(**kw: Any) -> BusConfig:
    return TypeAdapter(BusConfig).validate_python(kw)


def device(**kw: Any) -> DeviceConfig:
    base = {"name": "pt-102", "bus": "rs485-1", "unit": 2, "profile": "generic-pressure-float32"}
    return DeviceConfig.model_validate({**base, **kw})


def test_bus_targets_read_as_a_technician_writes_them() -> None:
    assert bus_target(bus(name="a", kind="modbus-rtu", port="/dev/ttyS1")) == "/dev/ttyS1 9600 8N1"
    serial = bus(
        name="a",
        kind="serial-line",
        port="/dev/ttyUSB0",
        baudrate=19200,
        parity="E",
        bytesize=7,
        stopbits=2,
    )
    assert bus_target(serial) == "/dev/ttyUSB0 19200 7E2"
    assert bus_target(bus(name="a", kind="modbus-tcp", host="10.0.0.5")) == "10.0.0.5:502"


def test_entries_have_the_documented_keys() -> None:
    documented = doc_example("devices")
    b = bus_entry(bus(name="rs485-1", kind="modbus-rtu", port="/dev/ttyS1"), 4210, 17, 15, 160.8)
    assert b.keys() == documented["buses"][0].keys()
    assert b["mean_latency_ms"] == 38.2
    d = device_entry(
        device(),
        Counters(1910, 15, 14, NOW - 70_000),
        "timeout",
        [("pressure", 0.398, "MPa", NOW - 70_000)],
    )
    assert d == {
        **documented["devices"][1],
        "last_good_ts_ms": NOW - 70_000,
        "last_good": [{"point": "pressure", "value": 0.398, "unit": "MPa", "ts_ms": NOW - 70_000}],
    }
    t = AlarmTransition(
        "a-7f3c",
        NOW - 120_000,
        "pt-101",
        "pressure",
        "water.pressure.low",
        "threshold",
        1,
        AlarmState.RAISED,
        0.08,
        0.1,
        "MPa",
        evidence=Evidence(window_s=10.0, baseline=0.1, delta=-0.02),
    )
    assert alarm_entry(t, NOW - 120_000, acked=False) == documented["alarms"][0]
    assert versions().keys() == documented["gateway"]["versions"].keys()


def test_device_states() -> None:
    assert device_entry(device(), Counters(), None, [])["state"] == "starting"
    assert device_entry(device(enabled=False), Counters(5), None, [])["state"] == "disabled"
    ok = device_entry(device(), Counters(5, 1, 0, NOW), "timeout", [])
    assert (ok["state"], ok["reason"]) == ("ok", None)  # a recovered device has no reason


def test_a_status_built_from_the_pieces_renders_the_verdict() -> None:
    status = {
        "now_ms": NOW,
        "gateway": {
            "id": "gw-1",
            "mode": "normal",
            "started_ms": NOW - 1000,
            "versions": versions(),
        },
        "uplink": {"state": "connected", "broker": "127.0.0.1:1883", "since_ms": NOW},
        "buffer": {"depth": 0, "oldest_unsent_ts_ms": None, "dropped": 0},
        "buses": [
            bus_entry(bus(name="rs485-1", kind="modbus-rtu", port="/dev/ttyS1"), 0, 0, 0, 0, 7)
        ],
        "devices": [device_entry(device(), Counters(3, 3, 3, None), "exception code 2", [])],
        "alarms": [],
    }
    text = views.render_status(status)
    assert "device pt-102 (rs485-1 unit 2): failing: exception code 2, 3 failed polls" in text
    row = "rs485-1  modbus-rtu  /dev/ttyS1 9600 8N1  0         0       0         7         -"
    assert row in text


def test_summary_line_for_systemctl_status() -> None:
    assert summary_line(doc_example("devices")) == (
        "2/3 devices ok (pt-102: timeout); uplink connected; 12 unsent; 1 alarm active"
    )
    many = {
        "devices": [{"name": f"d{i}", "state": "failing", "reason": "timeout"} for i in range(5)]
    }
    assert summary_line(many) == (
        "0/5 devices ok (d0: timeout, d1: timeout, d2: timeout, +2 more); uplink unknown; "
        "0 unsent; 0 alarms active"
    )
