"""A full disk delays alarms; it never loses them. A real filesystem that fills up (a
4 MB tmpfs, filled by another file as a runaway log would), the agent as a subprocess,
a real mosquitto and a real Modbus server. Mounting needs root, as CI has."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from drivers.profiles import load_profiles
from fieldsim.modbus_device import SimulatedDevice
from fieldsim.modbus_server import serve_tcp
from tests.conftest import Broker
from tests.integration.agent_process import (
    Platform,
    agent_process,
    gateway_toml,
    subscribe_forever,
)
from tests.integration.fault_disk import fill, small_disk

pytestmark = pytest.mark.integration

RULES = """\
[[rules]]
id = "low"
kind = "threshold"
quantity = "pressure"
direction = "below"
levels = [ { level = 3, limit = 0.20 } ]
"""


class Field:
    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, _t: float) -> float:
        return self.value


async def test_alarms_raised_while_the_disk_is_full_are_delivered_when_space_returns(
    tmp_path: Path, broker: Broker
) -> None:
    pressure = Field(0.35)
    profile = load_profiles([])["generic-pressure-float32"]
    platform = Platform()
    root = "lifeline/test-site/gw-test"
    with small_disk(tmp_path / "disk") as disk:
        async with serve_tcp([SimulatedDevice(1, profile, {"pressure": pressure})]) as port:
            (tmp_path / "rules.toml").write_text(RULES)
            config = tmp_path / "gateway.toml"
            config.write_text(
                gateway_toml(
                    disk / "data",
                    broker.port,
                    devices=[
                        {
                            "name": "pt-1",
                            "bus": "plant",
                            "unit": 1,
                            "poll_interval_s": 0.1,
                            "profile": "generic-pressure-float32",
                        }
                    ],
                    buses=[
                        {"name": "plant", "kind": "modbus-tcp", "host": "127.0.0.1", "port": port}
                    ],
                    rules=["rules.toml"],
                )
            )
            sub = asyncio.create_task(
                subscribe_forever(platform, broker.port, f"{root}/#", "platform-full", False)
            )
            try:
                async with agent_process(config, tmp_path / "agent.log") as agent:
                    await platform.wait_for(lambda: bool(platform.of("telemetry/pt-1")), 30)
                    filler = fill(disk)
                    # While the disk is full: raised, cleared, raised again.
                    for value in (0.1, 0.35, 0.1):
                        pressure.value = value
                        await asyncio.sleep(1.5)
                    assert agent.proc is not None
                    assert agent.proc.returncode is None, "the agent survived the full disk"
                    filler.unlink()
                    await platform.wait_for(
                        lambda: len(platform.of("alarm/pt-1/pressure")) >= 3, 30
                    )
                    assert await agent.stop() == 0, agent.log_text()
            finally:
                sub.cancel()
    events = platform.of("alarm/pt-1/pressure")
    by_seq = {e["seq"]: e for e in events}
    states = [by_seq[s]["state"] for s in sorted(by_seq)]
    assert states[:3] == ["raised", "cleared", "raised"]
    first, second = by_seq[sorted(by_seq)[0]], by_seq[sorted(by_seq)[2]]
    assert first["id"] != second["id"]
