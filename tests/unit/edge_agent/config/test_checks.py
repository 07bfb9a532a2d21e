"""References between sections, and what the firmware profiles fill in."""

from __future__ import annotations

from pathlib import Path

from edge_agent.config import load_config
from tests.unit.edge_agent.config.support import GOOD, problems, write


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


RTU = """\
[gateway]
id = "gw"
site = "s"

[[buses]]
name = "line"
kind = "modbus-rtu"
port = "/dev/ttyS1"
{bus_extra}
[[devices]]
name = "lv-1"
bus = "line"
profile = "endress-hauser-fmr20"
{dev_extra}
"""


def test_profile_supplies_unit_and_serial_settings_the_config_leaves_out(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, RTU.format(bus_extra="", dev_extra="")))
    bus = cfg.bus("line")
    assert (bus.baudrate, bus.parity) == (9600, "E")  # FMR20: 8E1
    assert cfg.devices[0].unit == 200  # FMR20's factory address
    text = RTU.format(bus_extra='parity = "N"\n', dev_extra="unit = 7\n")
    cfg = load_config(write(tmp_path, text))
    assert cfg.bus("line").parity == "N"  # what the installer set wins
    assert cfg.devices[0].unit == 7


def test_devices_with_different_factory_serial_settings_need_bus_settings(tmp_path: Path) -> None:
    text = RTU.format(bus_extra="", dev_extra="") + (
        '\n[[devices]]\nname = "rg-1"\nbus = "line"\nprofile = "dfrobot-sen0575"\n'
    )
    (msg,) = problems(tmp_path, text)
    assert "buses[0]" in msg
    assert "parity" in msg
