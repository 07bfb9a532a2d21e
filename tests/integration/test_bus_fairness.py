"""A dead device on a shared RTU line does not starve the healthy ones, and recovers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from drivers.bus import BusLine, open_bus
from drivers.device import read_device
from drivers.planner import plan_reads
from drivers.profiles import Profile, load_profiles
from drivers.schedule import BackoffPolicy, DeviceHealth, Ticker
from drivers.settings import ModbusRtuBusConfig
from fieldsim.modbus_device import SimulatedDevice
from fieldsim.modbus_server import SimServer
from fieldsim.ptypair import PtyPair

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

PROFILES = load_profiles([])
PRESSURE = PROFILES["generic-pressure-float32"]


async def poll_loop(
    bus: BusLine,
    unit: int,
    profile: Profile,
    interval_s: float,
    health: DeviceHealth,
    log: list[tuple[float, str, str | None]],
    stop: asyncio.Event,
) -> None:
    """The smallest poller: deadlines, backoff, nothing else."""
    plan = plan_reads(profile)
    ticker = Ticker(interval_s, start=time.monotonic())
    while not stop.is_set():
        values = await read_device(bus, unit, plan, profile)
        now = time.monotonic()
        change = health.record(values)
        log.append((now, values[0].quality, change))
        bus.overruns += ticker.overruns_since_last()
        due = health.next_poll(ticker, now)
        try:
            async with asyncio.timeout(max(0.0, due - time.monotonic())):
                await stop.wait()
        except TimeoutError:
            pass


async def test_dead_device_does_not_starve_bus(tmp_path: Path) -> None:
    devices = [SimulatedDevice(u, PRESSURE, {"pressure": 0.1 * u}) for u in (1, 2, 3)]
    devices[1].silent = True  # unit 2 is dead
    interval_s = 0.1
    async with PtyPair(tmp_path) as pair:
        server = SimServer(devices, kind="rtu", serial_port=str(pair.a))
        await server.start()
        # Each poll of the dead unit holds the line for a whole timeout: without backoff
        # it would take half of every 0.1 s cycle.
        cfg = ModbusRtuBusConfig(
            kind="modbus-rtu", name="rs485", port=str(pair.b), timeout_s=0.1, retries=0
        )
        policy = BackoffPolicy(offline_after=2, first_probe_s=0.5, max_probe_s=0.5)
        health = {u: DeviceHealth(interval_s, policy) for u in (1, 2, 3)}
        logs: dict[int, list[tuple[float, str, str | None]]] = {u: [] for u in (1, 2, 3)}
        stop = asyncio.Event()
        try:
            async with open_bus(cfg) as bus, asyncio.TaskGroup() as tg:
                for u in (1, 2, 3):
                    tg.create_task(
                        poll_loop(bus, u, PRESSURE, interval_s, health[u], logs[u], stop)
                    )
                await asyncio.sleep(2.5)
                assert not health[2].online
                devices[1].silent = False  # unit 2 comes back
                await asyncio.sleep(1.0)
                stop.set()
        finally:
            await server.stop()
    dead = [c for _, _, c in logs[2]]
    assert dead.count("offline") == 1
    assert "online" in dead
    assert health[2].online
    t_offline = next(t for t, _, c in logs[2] if c == "offline")
    t_online = next(t for t, _, c in logs[2] if c == "online")
    # Fairness as shares of the line, not as a rate against the clock (a busy machine
    # slows every unit alike). While unit 2 was offline it was only probed (every 0.5 s
    # against the others' 0.1 s): each healthy unit had several turns per probe. Without
    # backoff the FIFO turns would give the dead unit one turn per round, a ratio near 1.
    probes = sum(1 for t, _, _ in logs[2] if t_offline < t <= t_online)
    assert probes >= 1
    for u in (1, 3):
        assert all(q == "good" for _, q, _ in logs[u])
        polls = sum(1 for t, _, _ in logs[u] if t_offline < t <= t_online)
        assert polls >= 2.5 * probes, (u, polls, probes)
