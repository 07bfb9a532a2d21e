"""`edge-agent profiles list|show|plan`: the catalogue and the read plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.edge_agent.cli.support import edge_agent


def test_profiles_list_and_show() -> None:
    r = edge_agent("profiles", "list", "--json")
    assert r.returncode == 0
    ids = {p["id"] for p in json.loads(r.stdout)}
    assert "generic-pressure-float32" in ids
    r = edge_agent("profiles", "show", "generic-pressure-float32")
    assert r.returncode == 0
    assert "float32" in r.stdout
    r = edge_agent("profiles", "show", "no-such")
    assert r.returncode == 1
    assert "no profile 'no-such'" in r.stderr


def test_profiles_plan_of_one_profile() -> None:
    r = edge_agent("profiles", "plan", "tuf-2000m", "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert (plan["transactions"], plan["registers"], plan["bits"]) == (4, 26, 0)
    assert [(q["address"], q["count"]) for q in plan["requests"]] == [
        (0, 12),
        (24, 12),
        (71, 1),
        (91, 1),
    ]
    assert plan["requests"][0]["points"][0] == "flow"
    # 9600 baud 8N1: the figures of docs/benchmarks.md
    assert plan["bus_time_ms"] == 157.5
    assert plan["per_point"] == {"transactions": 11, "bus_time_ms": 325.8}
    faster = json.loads(edge_agent("profiles", "plan", "tuf-2000m", "--baudrate", "19200",
                                   "--json").stdout)  # fmt: skip
    assert faster["transactions"] == 4
    assert faster["bus_time_ms"] < plan["bus_time_ms"]

    r = edge_agent("profiles", "plan", "tuf-2000m")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("profile tuf-2000m: 4 request(s) per poll at 9600 baud\n")
    assert "holding  24       12     50.8 ms   total_net" in r.stdout
    assert "one request per point would be 11 request(s), 325.8 ms" in r.stdout
    r = edge_agent("profiles", "plan", "maxbotix-hrxl-serial")
    assert r.returncode == 0, r.stderr
    assert "ASCII line sensor, one line per poll" in r.stdout


PLANNED = """\
[gateway]
id = "gw-plan"
site = "lab"

[[buses]]
name = "rs485-1"
kind = "modbus-rtu"
port = "/dev/ttyS1"

[[buses]]
name = "gw-1"
kind = "modbus-rtu-over-tcp"
host = "10.0.0.7"

[[buses]]
name = "plant"
kind = "modbus-tcp"
host = "10.0.0.5"

[[buses]]
name = "ascii-1"
kind = "serial-line"
port = "/dev/ttyS2"

[[devices]]
name = "pt-101"
bus = "rs485-1"
profile = "generic-pressure-float32"
poll_interval_s = 5

[[devices]]
name = "fm-102"
bus = "rs485-1"
unit = 2
profile = "tuf-2000m"
poll_interval_s = 0.1

[[devices]]
name = "lv-301"
bus = "gw-1"
unit = 200
profile = "endress-hauser-fmr20"

[[devices]]
name = "lv-401"
bus = "plant"
profile = "generic-level-int16"

[[devices]]
name = "us-501"
bus = "ascii-1"
profile = "maxbotix-hrxl-serial"
"""


def test_profiles_plan_of_every_configured_device(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(PLANNED)
    r = edge_agent("profiles", "plan", "-c", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    dev = {d["device"]: d for d in out["devices"]}
    assert list(dev) == ["pt-101", "fm-102", "lv-301", "lv-401", "us-501"]
    assert (dev["fm-102"]["transactions"], dev["fm-102"]["bus_time_ms"]) == (4, 157.5)
    assert (dev["pt-101"]["baudrate"], dev["pt-101"]["baudrate_from"]) == (9600, "bus")
    # behind a serial device server: the device's own line settings (8E1 for the FMR20)
    assert (dev["lv-301"]["baudrate"], dev["lv-301"]["baudrate_from"]) == (9600, "profile")
    assert dev["lv-301"]["registers"] == 12
    # no serial line to model on Modbus TCP; a line sensor reads one line per poll
    assert (dev["lv-401"]["transactions"], dev["lv-401"]["bus_time_ms"]) == (1, None)
    assert (dev["us-501"]["transactions"], dev["us-501"]["registers"]) == (1, 0)
    bus = {b["name"]: b for b in out["buses"]}
    assert bus["rs485-1"]["transactions_per_cycle"] == 5
    assert bus["rs485-1"]["bus_time_ms_per_cycle"] == 187.5
    # 157.5 ms every 0.1 s plus 30 ms every 5 s: more than the line has
    assert bus["rs485-1"]["load"] == pytest.approx(1.5810, abs=1e-4)
    assert bus["gw-1"]["load"] < 0.02
    assert bus["plant"]["load"] is None

    r = edge_agent("profiles", "plan", "-c", str(cfg))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("gateway gw-plan: 5 devices on 4 buses\n")
    assert "9600 (profile)" in r.stdout
    assert (
        "bus rs485-1: 5 request(s) per cycle, 187.5 ms of line time; 158.1 % busy at the "
        "configured intervals (OVERLOADED: polls will overrun)"
    ) in r.stdout
    assert "bus gw-1: 1 request(s) per cycle, 55.4 ms of line time; 1.1 % busy" in r.stdout


def test_profiles_plan_errors_are_one_line(tmp_path: Path) -> None:
    r = edge_agent("profiles", "plan", "no-such")
    assert r.returncode == 1
    assert r.stderr == "edge-agent: error: no profile 'no-such' (see `edge-agent profiles list`)\n"
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(PLANNED.replace('profile = "tuf-2000m"', 'profile = "tuf-9000"'))
    r = edge_agent("profiles", "plan", "-c", str(cfg))
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1
    assert "devices[1].profile" in r.stderr
    assert "Traceback" not in r.stderr
    r = edge_agent("profiles", "plan", "--help")
    assert r.returncode == 0
    assert "\nexamples:\n  edge-agent profiles plan " in r.stdout


@pytest.mark.parametrize("group", ["profiles", "rules"])
def test_check_of_a_path_it_cannot_read_is_one_clear_line(group: str, tmp_path: Path) -> None:
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[[rules]]\n")
    cases = {
        tmp_path / ("a" * 300 + ".toml"): "File name too long",
        tmp_path / ("d" * 300) / "x.toml": "File name too long",
        binary: "not a text file (UTF-8): invalid start byte",
    }
    for path, why in cases.items():
        r = edge_agent(group, "check", str(path))
        assert r.returncode == 1, r.stderr
        assert "Traceback" not in r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith("edge-agent: error: ")
        assert lines[0].endswith(why), lines[0][-120:]
