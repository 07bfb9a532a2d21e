"""Config errors name the file, the key path and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import ConfigError, format_loc, load_config
from tests.unit.edge_agent.config.support import GOOD, problems, write


def test_good_config_loads_and_resolves_paths(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.gateway.id == "gw-qd-0042"
    assert cfg.data_dir == tmp_path / "data"
    assert cfg.root_topic == "lifeline/qingdao-licang/gw-qd-0042"
    assert cfg.bus("plant").kind == "modbus-tcp"


def test_unit_out_of_range_names_key_and_bounds(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, GOOD.replace("unit = 1", "unit = 300"))
    assert msg.startswith(f"{tmp_path / 'gateway.toml'}: devices[0].unit: ")
    assert "247" in msg


def test_unknown_bus_kind_lists_allowed_kinds(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, GOOD.replace('kind = "modbus-rtu"', 'kind = "profibus"'))
    assert "buses[0]" in msg
    assert "modbus-tcp" in msg
    assert "serial-line" in msg


def test_field_illegal_for_bus_kind_is_rejected(tmp_path: Path) -> None:
    text = GOOD.replace('host = "10.0.0.5"', 'host = "10.0.0.5"\nbaudrate = 9600')
    (msg,) = problems(tmp_path, text)
    assert msg.endswith("buses[1].baudrate: unknown key (not allowed here; check the spelling)")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace('id = "gw-qd-0042"', 'id = "gw qd/42"').replace("port = 1883", "port = 0")
    found = problems(tmp_path, text)
    assert any("gateway.id" in m for m in found)
    assert any("mqtt.port" in m for m in found)


def test_malformed_toml_and_missing_file(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, "[gateway\nid=")
    assert "not valid TOML" in msg
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.toml")


def test_secrets_come_from_files_that_exist(tmp_path: Path) -> None:
    text = GOOD.replace("port = 1883", 'port = 1883\npassword_file = "mqtt.pass"')
    (msg,) = problems(tmp_path, text)
    assert "mqtt.password_file" in msg
    assert "file not found" in msg
    (tmp_path / "mqtt.pass").write_text("s3cret\n")
    cfg = load_config(write(tmp_path, text))
    secret = cfg.mqtt.password(cfg.base_dir)
    assert secret is not None
    assert secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(secret)


def test_format_loc() -> None:
    assert format_loc(("devices", 3, "unit")) == "devices[3].unit"
    assert format_loc(("buses", 0, "modbus-tcp", "host"), {"modbus-tcp"}) == "buses[0].host"


def test_numeric_tags_are_text_and_the_hmac_key_must_exist(tmp_path: Path) -> None:
    text = GOOD.replace('tags = { zone = "dma-3" }', "tags = { zone = 3, pn_mpa = 0.4 }")
    cfg = load_config(write(tmp_path, text))
    assert cfg.devices[0].tags == {"zone": "3", "pn_mpa": "0.4"}
    text = GOOD.replace("[[buses]]", '[mqtt.commands]\nhmac_key_file = "cmd.key"\n\n[[buses]]', 1)
    (msg,) = problems(tmp_path, text)
    assert "mqtt.commands.hmac_key_file" in msg
    assert "file not found" in msg
