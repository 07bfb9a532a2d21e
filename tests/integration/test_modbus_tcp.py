"""Modbus TCP against a real pymodbus server: values, exception replies, a vanishing server."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from drivers.base import PointValue
from drivers.bus import BusLine, open_bus
from drivers.device import read_device
from drivers.errors import BusClosed, BusTimeout, DeviceException
from drivers.planner import plan_reads
from drivers.profiles import Profile, load_profiles
from drivers.settings import ModbusTcpBusConfig
from fieldsim.modbus_device import SimulatedDevice
from fieldsim.modbus_server import SimServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

PROFILES = load_profiles([])
PRESSURE = PROFILES["generic-pressure-float32"]
LEVEL = PROFILES["generic-level-int16"]


@pytest.fixture
async def sims() -> AsyncIterator[tuple[SimServer, dict[int, SimulatedDevice]]]:
    devices = {
        1: SimulatedDevice(1, PRESSURE, {"pressure": lambda t: 0.35}),
        2: SimulatedDevice(2, LEVEL, {"level": 2.345}),
    }
    server = SimServer(list(devices.values()))
    await server.start()
    try:
        yield server, devices
    finally:
        await server.stop()


def tcp_bus(port: int, timeout_s: float = 0.3, retries: int = 0) -> BusLine:
    cfg = ModbusTcpBusConfig(
        kind="modbus-tcp",
        name="tcp-1",
        host="127.0.0.1",
        port=port,
        timeout_s=timeout_s,
        retries=retries,
    )
    return open_bus(cfg)


async def poll(bus: BusLine, unit: int, profile: Profile) -> dict[str, PointValue]:
    values = await read_device(bus, unit, plan_reads(profile), profile)
    return {v.name: v for v in values}


async def test_reads_values_of_several_units(
    sims: tuple[SimServer, dict[int, SimulatedDevice]],
) -> None:
    server, _ = sims
    async with tcp_bus(server.port) as bus:
        p = await poll(bus, 1, PRESSURE)
        assert p["pressure"].quality == "good"
        assert p["pressure"].value == pytest.approx(0.35, abs=1e-6)
        lv = await poll(bus, 2, LEVEL)
        assert (lv["level"].value, lv["level"].quality) == (pytest.approx(2.345), "good")
        assert await bus.read(2, "holding", 0, 1) == [2345]


async def test_values_follow_the_signal_over_time(
    sims: tuple[SimServer, dict[int, SimulatedDevice]],
) -> None:
    server, devices = sims
    devices[1].set_signal("pressure", lambda t: 0.1 + 0.1 * t)
    async with tcp_bus(server.port) as bus:
        first = (await poll(bus, 1, PRESSURE))["pressure"].value
        await asyncio.sleep(0.3)
        second = (await poll(bus, 1, PRESSURE))["pressure"].value
    assert second - first == pytest.approx(0.03, abs=0.02)


async def test_exception_reply_becomes_device_exception_with_code(
    sims: tuple[SimServer, dict[int, SimulatedDevice]],
) -> None:
    server, devices = sims
    devices[1].exception_code = 2
    async with tcp_bus(server.port) as bus:
        with pytest.raises(DeviceException) as err:
            await bus.read(1, "holding", 0, 2)
        assert err.value.code == 2
        assert err.value.reason == "exception code 2"
        assert "unit 1" in str(err.value)
        p = await poll(bus, 1, PRESSURE)
        assert math.isnan(p["pressure"].value)
        assert (p["pressure"].quality, p["pressure"].reason) == ("bad", "exception code 2")
        # the other unit on the same link is unaffected
        assert (await poll(bus, 2, LEVEL))["level"].quality == "good"


async def test_silent_unit_times_out_and_others_keep_answering(
    sims: tuple[SimServer, dict[int, SimulatedDevice]],
) -> None:
    server, devices = sims
    devices[1].silent = True
    async with tcp_bus(server.port, timeout_s=0.2) as bus:
        for _ in range(5):  # more than pymodbus's own "close after retries+3" limit
            t0 = time.monotonic()
            with pytest.raises(BusTimeout):
                await bus.read(1, "holding", 0, 2)
            assert time.monotonic() - t0 < 1.0
            assert (await poll(bus, 2, LEVEL))["level"].quality == "good"
        p = await poll(bus, 1, PRESSURE)
        assert (p["pressure"].quality, p["pressure"].reason) == ("bad", "timeout")


async def test_server_gone_fails_fast_and_reads_recover_when_it_returns(
    sims: tuple[SimServer, dict[int, SimulatedDevice]],
) -> None:
    server, _ = sims
    async with tcp_bus(server.port, timeout_s=0.3) as bus:
        assert (await poll(bus, 1, PRESSURE))["pressure"].quality == "good"
        await server.stop()
        for _ in range(3):
            t0 = time.monotonic()
            with pytest.raises((BusTimeout, BusClosed)):
                await bus.read(1, "holding", 0, 2)
            assert time.monotonic() - t0 < 2.0
        p = await poll(bus, 1, PRESSURE)
        assert p["pressure"].quality == "bad"
        assert p["pressure"].reason in ("timeout", "bus closed")
        await server.start()  # same port
        for _ in range(50):  # 5 s at most
            if (await poll(bus, 1, PRESSURE))["pressure"].quality == "good":
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("reads did not recover after the server came back")
        assert (await poll(bus, 2, LEVEL))["level"].value == pytest.approx(2.345)


async def test_bus_opens_while_the_server_is_down_and_connects_later() -> None:
    device = SimulatedDevice(1, PRESSURE, {"pressure": 0.5})
    server = SimServer([device])
    port = await server.start()
    await server.stop()
    async with tcp_bus(port) as bus:
        with pytest.raises(BusClosed):
            await bus.read(1, "holding", 0, 2)
        await server.start()
        try:
            p = await poll(bus, 1, PRESSURE)
            assert (p["pressure"].value, p["pressure"].quality) == (pytest.approx(0.5), "good")
        finally:
            await server.stop()


async def test_one_transaction_at_a_time_per_bus(
    sims: tuple[SimServer, dict[int, SimulatedDevice]],
) -> None:
    server, devices = sims
    devices[2].delay_s = 0.1
    async with tcp_bus(server.port, timeout_s=1.0) as bus:
        t0 = time.monotonic()
        results = await asyncio.gather(*(bus.read(2, "holding", 0, 1) for _ in range(4)))
        elapsed = time.monotonic() - t0
    assert results == [[2345]] * 4
    assert elapsed >= 0.4  # four 100 ms answers, one after another
    stats = bus.stats()
    assert (stats["transactions"], stats["failures"]) == (4, 0)
    assert stats["busy_s"] >= 0.4


async def test_cut_short_tcp_answer_is_a_frame_error(
    sims: tuple[SimServer, dict[int, SimulatedDevice]],
) -> None:
    server, devices = sims
    devices[1].frame_fault = "short"
    async with tcp_bus(server.port) as bus:
        p = await poll(bus, 1, PRESSURE)
        assert (p["pressure"].quality, p["pressure"].reason) == ("bad", "frame error")
        devices[1].frame_fault = None
        assert (await poll(bus, 1, PRESSURE))["pressure"].quality == "good"


async def test_half_open_link_is_reopened_after_repeated_silence() -> None:
    """A peer that accepts the connection but never answers (rebooted gateway behind a
    NAT, say): after a few timeouts in a row the link is closed and dialled again."""
    connections = 0

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while await reader.read(256):
                pass
        finally:
            writer.close()

    listener = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        async with tcp_bus(port, timeout_s=0.1) as bus:
            for _ in range(4):
                with pytest.raises(BusTimeout):
                    await bus.read(1, "holding", 0, 1)
    finally:
        listener.close()
        await listener.wait_closed()
    assert connections >= 2


async def test_a_read_cancelled_as_its_answer_arrives_is_cancelled(
    sims: tuple[SimServer, dict[int, SimulatedDevice]],
) -> None:
    """Python 3.11's wait_for, inside pymodbus, returns the answer and drops a cancel
    that lands in the same loop turn: a stopping agent's poller then polled on forever."""
    server, _ = sims
    async with tcp_bus(server.port) as bus:
        ctx = bus.inner._client.ctx  # type: ignore[attr-defined]
        reader: list[asyncio.Task[Any]] = []
        seen = ctx.trace_pdu

        def cancel_on_answer(sending: bool, pdu: Any) -> Any:
            if not sending and reader:
                reader[0].cancel()  # the stop arrives in the turn the answer does
            return seen(sending, pdu)

        ctx.trace_pdu = cancel_on_answer
        for _ in range(5):
            task = asyncio.create_task(bus.read(1, "holding", 0, 2))
            reader[:] = [task]
            with pytest.raises(asyncio.CancelledError):
                await task
        reader.clear()
        assert len(await bus.read(1, "holding", 0, 2)) == 2  # the line is still usable
