"""SIGTERM always ends the agent cleanly, whatever it was doing: stopped many times
under polling load, it stores what it polled, logs its stop and exits 0 every time."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from drivers.profiles import load_profiles
from fieldsim.modbus_device import SimulatedDevice
from fieldsim.modbus_server import serve_tcp
from tests.conftest import Broker
from tests.integration.agent_process import agent_process, gateway_toml

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

RUNS = 6
DEVICES_PER_BUS = 4


async def wait_polled(devices: list[SimulatedDevice], timeout_s: float) -> None:
    """Until every device has been asked again (the agent is polling all of them)."""
    start = [d.requests for d in devices]
    async with asyncio.timeout(timeout_s):
        while any(d.requests <= n for d, n in zip(devices, start, strict=True)):  # noqa: ASYNC110 (a counter, no event)
            await asyncio.sleep(0.05)


async def test_sigterm_under_load_always_ends_in_a_clean_stop(
    tmp_path: Path, broker: Broker
) -> None:
    profile = load_profiles([])["generic-pressure-float32"]
    rng = random.Random(15)
    sims = [SimulatedDevice(u, profile, {"pressure": 0.3}) for u in range(1, 1 + DEVICES_PER_BUS)]
    sims2 = [SimulatedDevice(u, profile, {"pressure": 0.4}) for u in range(1, 1 + DEVICES_PER_BUS)]
    async with serve_tcp(sims) as port_a, serve_tcp(sims2) as port_b:
        buses = [
            {"name": "a", "kind": "modbus-tcp", "host": "127.0.0.1", "port": port_a},
            {"name": "b", "kind": "modbus-tcp", "host": "127.0.0.1", "port": port_b},
        ]
        devices = [
            {"name": f"pt-{bus}{u}", "bus": bus, "unit": u, "poll_interval_s": 0.02,
             "profile": "generic-pressure-float32"}
            for bus in ("a", "b") for u in range(1, 1 + DEVICES_PER_BUS)
        ]  # fmt: skip
        config = tmp_path / "gateway.toml"
        config.write_text(gateway_toml(tmp_path / "data", broker.port, devices, buses, []))
        for run in range(RUNS):
            log = tmp_path / f"agent-{run}.log"
            async with agent_process(config, log) as agent:
                await wait_polled(sims + sims2, 60)
                await asyncio.sleep(rng.uniform(0.2, 1.2))  # polls on the lines meanwhile
                rc = await agent.stop(timeout_s=30)
            text = log.read_text(errors="replace")
            assert rc == 0, (run, text[-2000:])
            assert "agent stopped" in text, (run, text[-2000:])
    assert min(d.requests for d in sims + sims2) > RUNS  # every device was polled each run
