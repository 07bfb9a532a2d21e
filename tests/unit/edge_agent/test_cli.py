"""The CLI as a user meets it: a subprocess, one-line errors, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.edge_agent.test_config import GOOD


def edge_agent(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_config_check_ok(tmp_path: Path) -> None:
    (tmp_path / "gateway.toml").write_text(GOOD)
    r = edge_agent("config", "check", "-c", str(tmp_path / "gateway.toml"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("OK: ")
    assert "gateway gw-qd-0042" in r.stdout


def test_config_check_lists_each_problem_on_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(GOOD.replace("unit = 1", "unit = 300").replace("port = 1883", "port = 0"))
    r = edge_agent("config", "check", "-c", str(cfg))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"edge-agent: error: {cfg}: ") for line in lines)
    assert any("devices[0].unit" in line for line in lines)
    assert any("mqtt.port" in line for line in lines)
    assert "Traceback" not in r.stderr


def test_config_check_json(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(GOOD.replace('profile = "generic-pressure-float32"', 'profile = "nope"'))
    r = edge_agent("config", "check", "-c", str(cfg), "--json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["ok"] is False
    assert out["problems"][0]["loc"] == "devices[0].profile"


def test_run_refuses_to_start_on_a_bad_config(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(GOOD.replace('kind = "modbus-tcp"', 'kind = "modbus-tcpx"'))
    r = edge_agent("run", "-c", str(cfg))
    assert r.returncode == 1
    assert "buses[1]" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "data").exists()  # nothing was started


def test_a_bad_rule_file_is_a_config_problem(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text(
        '[[rules]]\nid = "x"\nkind = "threshold"\nquantity = "pressure"\n'
        'direction = "sideways"\nlevels = [{ level = 3, limit = 0.2 }]\n'
    )
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(GOOD.replace('data_dir = "data"', 'data_dir = "data"\nrules = ["mine.toml"]'))
    r = edge_agent("config", "check", "-c", str(cfg))
    assert r.returncode == 1
    assert "mine.toml" in r.stderr
    assert "rules[0].direction" in r.stderr


def test_unknown_command_and_missing_config_are_one_line(tmp_path: Path) -> None:
    r = edge_agent("frobnicate")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    r = edge_agent("config", "check", "-c", str(tmp_path / "absent.toml"))
    assert r.returncode == 1
    assert r.stderr.strip() == f"edge-agent: error: {tmp_path / 'absent.toml'}: file not found"


def test_config_schema_is_json_schema() -> None:
    r = edge_agent("config", "schema")
    assert r.returncode == 0
    schema = json.loads(r.stdout)
    assert {"gateway", "mqtt", "buses", "devices"} <= schema["properties"].keys()


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


def test_rules_backtest_writes_alarms_and_summary(tmp_path: Path) -> None:
    rules = tmp_path / "low.toml"
    rules.write_text(
        '[[rules]]\nid = "t.low"\nkind = "threshold"\nquantity = "pressure"\n'
        'direction = "below"\nlevels = [ { level = 3, limit = 0.2 } ]\n'
    )
    data = tmp_path / "readings.csv"
    rows = ["ts,point,value"]
    for i in range(120):  # one sample a minute; below the limit from minute 60 to 89
        value = 0.12 if 60 <= i < 90 else 0.35
        rows.append(f"{1_700_000_000_000 + i * 60_000},pt-1/pressure,{value}")
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "alarms.csv"
    r = edge_agent(
        "rules", "backtest", "--rules", str(rules), "--data", str(data), "--out", str(out)
    )
    assert r.returncode == 0, r.stderr
    assert "t.low" in r.stdout
    lines = out.read_text().splitlines()
    assert lines[0] == "ts,point,rule,kind,level,state,value"
    states = [line.split(",")[5] for line in lines[1:]]
    assert states == ["raised", "cleared"]
    assert lines[1].split(",")[0] == str(1_700_000_000_000 + 60 * 60_000)

    r = edge_agent("rules", "backtest", "--rules", "water", "--data", str(tmp_path / "nope.csv"))
    assert r.returncode == 1
    assert "nope.csv" in r.stderr
    assert "Traceback" not in r.stderr


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
