"""The CLI as a user meets it: a subprocess, one-line errors, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
