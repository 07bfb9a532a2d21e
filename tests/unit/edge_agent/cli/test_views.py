"""The technician's screens, rendered from the result shapes documented in docs/cli.md."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from edge_agent.cli import views
from tests.unit.edge_agent.cli.support import doc_example


@pytest.fixture
def status() -> dict[str, Any]:
    return copy.deepcopy(doc_example("devices"))


def test_documented_status_shows_the_failing_device_and_why(status: dict[str, Any]) -> None:
    text = views.render_status(status)
    lines = text.splitlines()
    assert lines[0] == "gateway gw-qd-0042  site qingdao-licang  mode normal  up 3h12m"
    assert lines[1] == "ATTENTION: 1 problem"
    assert lines[2] == (
        "  - device pt-102 (rs485-1 unit 2): failing: timeout, 14 failed polls in a row, "
        "last good reading 1m10s ago"
    )
    assert lines[3] == "ALARMS: 1 active, most severe level 1 red"
    row = next(line for line in lines if line.startswith("pt-102"))
    assert row.split() == [
        "pt-102",
        "rs485-1",
        "2",
        "FAILING",
        "timeout",
        "1m10s",
        "ago",
        "pressure=0.398",
        "MPa",
    ]
    assert "uplink  connected  mqtt.example.net:8883  since 2h03m ago" in lines
    assert "buffer  12 unsent, oldest 4s ago, 0 dropped, buffer.db 12.3 MB" in lines
    bus = next(line for line in lines if line.startswith("rs485-1"))
    assert bus.split() == [
        "rs485-1",
        "modbus-rtu",
        "/dev/ttyS1",
        "9600",
        "8N1",
        "4210",
        "17",
        "15",
        "0",
        "38",
        "ms",
    ]
    assert any(line.startswith("1 red  pt-101/pressure  water.pressure.low") for line in lines)
    assert lines[-1].startswith("versions: edge-agent 0.1.0, python 3.11.2")


def test_healthy_gateway_gets_an_ok_verdict(status: dict[str, Any]) -> None:
    status["devices"][1].update(state="ok", reason=None, consecutive_failures=0)
    status["alarms"] = []
    lines = views.render_status(status).splitlines()
    assert lines[1] == "OK: 3/3 devices answering, uplink connected, 12 messages buffered"
    assert lines[2] == "ALARMS: none active"
    assert views.assess(status) == []


def test_uplink_down_reports_how_long_why_and_the_backlog(status: dict[str, Any]) -> None:
    now = status["now_ms"]
    status["uplink"] = {
        "state": "disconnected",
        "broker": "mqtt.example.net:8883",
        "since_ms": now - 300_000,
        "last_error": "connection refused",
    }
    status["buffer"].update(depth=1532, oldest_unsent_ts_ms=now - 720_000)
    assert views.assess(status)[0] == (
        "uplink disconnected for 5m00s: connection refused; "
        "1532 messages buffered, oldest 12m00s ago"
    )


def test_uplink_connected_but_behind_is_a_problem(status: dict[str, Any]) -> None:
    status["buffer"]["oldest_unsent_ts_ms"] = status["now_ms"] - 61_000
    assert views.assess(status)[0] == "uplink is behind: 12 messages buffered, oldest 1m01s ago"
    status["buffer"]["oldest_unsent_ts_ms"] = status["now_ms"] - 59_000
    assert not views.assess(status)[0].startswith("uplink")


def test_alarms_waiting_for_room_on_the_disk_are_a_problem(status: dict[str, Any]) -> None:
    status["buffer"] |= {"held_alarms": 2, "held_readings": 300}
    assert (
        "buffer cannot be written (disk full?): 2 alarm transitions and 300 readings "
        "waiting in memory"
    ) in views.assess(status)


def test_a_wall_clock_step_is_a_problem(status: dict[str, Any]) -> None:
    at = status["now_ms"] - 65_000
    status["clock"] = {"steps": 1, "last_step_ms": -3_600_000, "last_step_ts": at}
    lines = [p for p in views.assess(status) if p.startswith("wall clock")]
    assert lines[0].startswith("wall clock stepped back 1h00m 1m05s ago (1 steps")


def test_dropped_telemetry_is_a_problem(status: dict[str, Any]) -> None:
    status["buffer"]["dropped"] = 40
    assert "buffer dropped 40 telemetry messages (full buffer)" in views.assess(status)


def test_device_never_answered_says_never(status: dict[str, Any]) -> None:
    status["devices"][2].update(
        state="failing",
        reason="bus closed",
        consecutive_failures=3,
        last_good_ts_ms=None,
        last_good=[],
    )
    assert views.assess(status)[-1] == (
        "device lv-3 (plant unit 7): failing: bus closed, 3 failed polls in a row, "
        "last good reading never"
    )


def test_disabled_or_not_yet_polled_device_is_not_a_problem(status: dict[str, Any]) -> None:
    status["devices"][1].update(state="disabled", reason=None)
    assert views.assess(status) == []
    status["devices"][1].update(state="starting", reason=None)
    assert views.assess(status) == []
    assert "STARTING" in views.render_status(status)


def test_sparse_status_from_an_older_or_newer_daemon_still_renders() -> None:
    text = views.render_status({"now_ms": 0, "gateway": {"id": "gw-1"}})
    assert text.splitlines()[0] == "gateway gw-1  mode ?"
    assert "uplink unknown" in text  # an unknown uplink state is a problem worth showing


def test_alarms_most_severe_first_with_eta(status: dict[str, Any]) -> None:
    now = status["now_ms"]
    alarms = [
        {
            "id": "b",
            "device": "lv-3",
            "point": "level",
            "rule": "drain.level.overflow-eta",
            "level": 2,
            "state": "raised",
            "value": 2.1,
            "limit": 2.5,
            "unit": "m",
            "since_ms": now - 60_000,
            "acked": True,
            "eta_s": 1500,
        },
        {
            "id": "a",
            "device": "pt-101",
            "point": "pressure",
            "rule": "water.pressure.low",
            "level": 1,
            "state": "raised",
            "value": 0.08,
            "limit": 0.1,
            "unit": "MPa",
            "since_ms": now - 120_000,
            "acked": False,
        },
    ]
    text = views.render_alarms({"active": alarms, "recent": []}, now)
    lines = text.splitlines()
    assert lines[0] == "active alarms: 2"
    assert lines[3].startswith("1 red     pt-101/pressure")
    assert lines[4].startswith("2 orange  lv-3/level")
    assert "raised (eta 25m00s)" in lines[4]
    assert lines[4].split()[-2:] == ["yes", "b"]
    assert "recent alarm events: 0" in lines


def test_tail_lines_show_quality_reason_and_alarms() -> None:
    good = {
        "type": "reading",
        "ts_ms": 1795536062120,
        "device": "pt-101",
        "point": "pressure",
        "value": 0.412,
        "unit": "MPa",
        "quality": "good",
        "reason": None,
    }
    bad = {**good, "value": None, "quality": "bad", "reason": "timeout"}
    alarm = {
        "type": "alarm",
        "ts_ms": 1795536067120,
        "device": "lv-3",
        "point": "level",
        "rule": "drain.level.overflow-eta",
        "level": 2,
        "state": "raised",
        "value": 2.1,
        "limit": 2.5,
        "unit": "m",
        "eta_s": 1500,
    }
    assert (
        views.render_tail_item(good) == "2026-11-24T16:01:02.120Z  pt-101/pressure  0.412 MPa  good"
    )
    assert views.render_tail_item(bad) == (
        "2026-11-24T16:01:02.120Z  pt-101/pressure  nan MPa  bad (timeout)"
    )
    assert views.render_tail_item(alarm) == (
        "2026-11-24T16:01:07.120Z  ALARM raised level 2 orange  lv-3/level  "
        "drain.level.overflow-eta  value=2.1 m limit=2.5 eta=25m00s"
    )


def test_read_shows_raw_words_every_way_and_the_decoded_value() -> None:
    result = doc_example("registers")
    lines = views.render_read(result).splitlines()
    assert lines[0] == "rs485-1 unit 3 holding 16..17 in 41 ms"
    assert lines[3].split() == ["16", "0x3ED2", "16082", "16082", "0011111011010010"]
    assert lines[4].split() == ["17", "0xF1AA", "61866", "-3670", "1111000110101010"]
    assert lines[5] == "value: 0.412 MPa  (float32 ABCD)  quality: good"


def test_read_of_coils_shows_bits_and_a_bad_value_its_reason() -> None:
    coils = {"bus": "plant", "unit": 1, "table": "coil", "address": 8, "registers": [1, 0]}
    assert views.render_read(coils).splitlines()[3:5] == ["8        1", "9        0"]
    bad = {
        **doc_example("registers"),
        "value": 9.9,
        "quality": "bad",
        "reason": "out of range",
        "scale": 0.01,
    }
    assert views.render_read(bad).splitlines()[-1] == (
        "value: 9.9 MPa  (float32 ABCD, scale 0.01, offset 0.0)  quality: bad (out of range)"
    )


def test_scan_result_lists_answers_exceptions_and_identity() -> None:
    lines = views.render_scan(doc_example("found")).splitlines()
    assert lines[0] == "scanned 3 unit ids on rs485-1 in 2.4 s: 2 answered"
    assert lines[3].split() == ["1", "0x3ED2", "38", "ms", "pt-101", "ACME", "PT-300", "2.1.4"]
    assert lines[4].split() == ["2", "exception", "2", "35", "ms", "pt-102", "-"]


@pytest.mark.parametrize(
    ("done", "total", "expected"),
    [
        (0, 247, "[..........]   0/247 units, 0 found"),
        (124, 247, "[#####.....] 124/247 units, 0 found"),
        (247, 247, "[##########] 247/247 units, 0 found"),
    ],
)
def test_progress_bar(done: int, total: int, expected: str) -> None:
    assert views.render_progress(done, total, 0, width=10) == expected


def test_alarms_and_tail_show_a_composites_evidence_with_its_members() -> None:
    ev = {"window_s": 300.0, "baseline": 0.4, "delta": -0.11, "slope": None, "eta_s": None,
          "members": [{"device": "pt-1", "point": "pressure", "rule": "water.pressure.drop",
                       "ts": 1_795_536_000_000, "value": 0.3, "delta": -0.1}]}  # fmt: skip
    item = {"type": "alarm", "ts_ms": 1_795_536_000_000, "id": "a-1", "device": "pt-2",
            "point": "pressure", "rule": "water.burst", "kind": "composite", "level": 1,
            "state": "raised", "value": 0.29, "limit": 0.07, "unit": "MPa", "eta_s": None,
            "evidence": ev}  # fmt: skip
    line = views.render_tail_item(item)
    assert "why: window 5m00s, baseline 0.4 MPa, delta -0.11 MPa" in line
    assert "pt-1/pressure water.pressure.drop (0.3, delta -0.1 at " in line
    text = views.render_alarms({"active": [{**item, "since_ms": item["ts_ms"]}], "recent": []}, 0)
    assert "why a-1: window 5m00s" in text
