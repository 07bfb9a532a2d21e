"""Config errors name the file, the key path and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import ConfigError, format_loc, load_config

GOOD = """\
[gateway]
id = "gw-qd-0042"
site = "qingdao-licang"
data_dir = "data"

[mqtt]
host = "127.0.0.1"
port = 1883

[[buses]]
name = "rs485-1"
kind = "modbus-rtu"
port = "/dev/ttyS1"
baudrate = 9600

[[buses]]
name = "plant"
kind = "modbus-tcp"
host = "10.0.0.5"

[[devices]]
name = "pt-101"
bus = "rs485-1"
unit = 1
profile = "generic-pressure-float32"
poll_interval_s = 5
tags = { zone = "dma-3" }
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "gateway.toml"
    p.write_text(text)
    return p


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    return [str(p) for p in err.value.problems]


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


def test_cross_references_are_checked(tmp_path: Path) -> None:
    text = GOOD + (
        '\n[[devices]]\nname = "pt-101"\nbus = "nope"\nprofile = "no-such-profile"\n'
        '\n[[devices]]\nname = "pt-102"\nbus = "rs485-1"\nunit = 1\n'
        'profile = "generic-pressure-float32"\n'
    )
    found = problems(tmp_path, text)
    assert any("devices[1].name" in m and "duplicate" in m for m in found)
    assert any("devices[1].bus" in m and "rs485-1" in m for m in found)
    assert any("devices[1].profile" in m and "no-such-profile" in m for m in found)
    assert any("devices[2].unit" in m and "pt-101" in m for m in found)


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


def test_a_device_profile_must_speak_its_bus_protocol(tmp_path: Path) -> None:
    text = GOOD + (
        '\n[[buses]]\nname = "ascii-1"\nkind = "serial-line"\nport = "/dev/ttyS2"\n'
        # an ASCII line sensor on the RS-485 Modbus line: wrong
        '\n[[devices]]\nname = "us-401"\nbus = "rs485-1"\nunit = 4\n'
        'profile = "maxbotix-hrxl-serial"\n'
        # a Modbus transmitter on the ASCII line: wrong too
        '\n[[devices]]\nname = "pt-102"\nbus = "ascii-1"\nprofile = "generic-pressure-float32"\n'
        # each where it belongs: fine
        '\n[[devices]]\nname = "us-402"\nbus = "ascii-1"\nunit = 2\n'
        'profile = "maxbotix-hrxl-serial"\n'
        '\n[[devices]]\nname = "pt-103"\nbus = "plant"\nprofile = "generic-pressure-float32"\n'
    )
    line_on_modbus, modbus_on_line = problems(tmp_path, text)
    assert line_on_modbus.startswith(f"{tmp_path / 'gateway.toml'}: devices[1].bus: ")
    assert "devices[1].profile 'maxbotix-hrxl-serial'" in line_on_modbus
    assert "bus 'rs485-1' is modbus-rtu" in line_on_modbus
    assert "on a serial-line bus (such buses here: ascii-1)" in line_on_modbus
    assert modbus_on_line.startswith(f"{tmp_path / 'gateway.toml'}: devices[2].bus: ")
    assert "devices[2].profile 'generic-pressure-float32' is a Modbus profile" in modbus_on_line
    assert "modbus-tcp or modbus-rtu or modbus-rtu-over-tcp" in modbus_on_line
    assert "(such buses here: plant, rs485-1)" in modbus_on_line


def test_a_misplaced_line_profile_without_serial_line_bus_says_none(tmp_path: Path) -> None:
    text = GOOD.replace('profile = "generic-pressure-float32"', 'profile = "maxbotix-hrxl-serial"')
    (msg,) = problems(tmp_path, text)
    assert "devices[0].bus" in msg
    assert "(such buses here: none defined)" in msg
