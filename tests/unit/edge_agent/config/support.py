"""A good gateway.toml to vary, and the problems load_config finds in a text."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import ConfigError, load_config

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
