"""`edge-agent config check|schema`: OK or one line per problem, and the schema."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.edge_agent.cli.support import edge_agent
from tests.unit.edge_agent.config.support import GOOD


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


def test_config_schema_is_json_schema() -> None:
    r = edge_agent("config", "schema")
    assert r.returncode == 0
    schema = json.loads(r.stdout)
    assert {"gateway", "mqtt", "buses", "devices"} <= schema["properties"].keys()


def test_config_check_warns_when_others_than_the_daemon_can_read_a_secret(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(
        GOOD.replace(
            "port = 1883",
            'port = 1883\npassword_file = "mqtt.pass"\n'
            '[mqtt.commands]\nhmac_key_file = "commands.key"',
        )
    )
    secrets = [tmp_path / "mqtt.pass", tmp_path / "commands.key"]
    for s in secrets:
        s.write_text("x" * 32)
        s.chmod(0o640)  # as install.md used to say: root:edge-agent, group-readable
    r = edge_agent("config", "check", "-c", str(cfg))
    assert r.returncode == 0, r.stderr  # a warning, not a refusal
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"edge-agent: warning: {cfg}: mqtt.password_file: ")
    assert "readable by its group (mode 0640)" in lines[0]
    assert "mqtt.commands.hmac_key_file" in lines[1]
    (tmp_path / "commands.key").chmod(0o604)
    (tmp_path / "mqtt.pass").chmod(0o400)
    r = edge_agent("config", "check", "-c", str(cfg), "--json")
    warnings = json.loads(r.stdout)["warnings"]
    assert [(w["loc"], "everyone" in w["msg"]) for w in warnings] == [
        ("mqtt.commands.hmac_key_file", True)
    ]
    (tmp_path / "commands.key").chmod(0o400)
    r = edge_agent("config", "check", "-c", str(cfg))
    assert r.returncode == 0
    assert r.stderr == ""
