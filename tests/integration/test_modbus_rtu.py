"""Modbus RTU on a real pseudo-terminal pair, and RTU over TCP, with field faults made for real."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drivers.base import PointValue
from drivers.bus import BusLine, open_bus
from drivers.device import read_device
from drivers.errors import BusClosed, BusTimeout, DeviceException, FrameError
from drivers.planner import plan_reads
from drivers.profiles import Profile, load_profiles
from drivers.settings import ModbusRtuBusConfig, ModbusRtuOverTcpBusConfig
from fieldsim.modbus_device import SimulatedDevice
from fieldsim.modbus_server import SimServer
from fieldsim.ptypair import PtyPair

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

PROFILES = load_profiles([])
PRESSURE = PROFILES["generic-pressure-float32"]
GAS = PROFILES["generic-gas-lel-int16"]


@dataclass
class Line:
    pair: PtyPair
    server: SimServer
    devices: dict[int, SimulatedDevice]

    def bus(self, timeout_s: float = 0.25, retries: int = 0) -> BusLine:
        cfg = ModbusRtuBusConfig(
            kind="modbus-rtu",
            name="rs485-1",
            port=str(self.pair.b),
            baudrate=9600,
            timeout_s=timeout_s,
            retries=retries,
        )
        return open_bus(cfg)


@pytest.fixture
async def line(tmp_path: Path) -> AsyncIterator[Line]:
    devices = {
        1: SimulatedDevice(1, PRESSURE, {"pressure": 0.42}),
        7: SimulatedDevice(7, GAS, {"methane": 12.5}),
    }
    pair = PtyPair(tmp_path)
    await pair.start()
    server = SimServer(list(devices.values()), kind="rtu", serial_port=str(pair.a))
    await server.start()
    try:
        yield Line(pair, server, devices)
    finally:
        await server.stop()
        await pair.stop()


async def poll(bus: BusLine, unit: int, profile: Profile) -> PointValue:
    [value] = await read_device(bus, unit, plan_reads(profile), profile)
    return value


async def test_rtu_reads_two_units_on_one_line(line: Line) -> None:
    async with line.bus() as bus:
        p = await poll(bus, 1, PRESSURE)
        g = await poll(bus, 7, GAS)
    assert (p.value, p.quality) == (pytest.approx(0.42), "good")
    assert (g.value, g.quality) == (pytest.approx(12.5), "good")


async def test_rtu_silent_unit_does_not_disturb_the_others(line: Line) -> None:
    line.devices[1].silent = True
    async with line.bus(timeout_s=0.2) as bus:
        for _ in range(4):
            t0 = time.monotonic()
            p = await poll(bus, 1, PRESSURE)
            assert (p.quality, p.reason) == ("bad", "timeout")
            assert time.monotonic() - t0 < 0.8
            assert (await poll(bus, 7, GAS)).quality == "good"
        line.devices[1].silent = False
        assert (await poll(bus, 1, PRESSURE)).quality == "good"


@pytest.mark.parametrize("code", [1, 2, 3, 4, 6])
async def test_rtu_exception_codes(line: Line, code: int) -> None:
    line.devices[7].exception_code = code
    async with line.bus() as bus:
        with pytest.raises(DeviceException) as err:
            await bus.read(7, "holding", 0, 1)
        assert err.value.code == code
        g = await poll(bus, 7, GAS)
        assert (g.quality, g.reason) == ("bad", f"exception code {code}")
        assert (await poll(bus, 1, PRESSURE)).quality == "good"


async def test_rtu_slow_answer_within_timeout_is_good_beyond_is_timeout(line: Line) -> None:
    async with line.bus(timeout_s=0.3) as bus:
        line.devices[1].delay_s = 0.1
        assert (await poll(bus, 1, PRESSURE)).quality == "good"
        line.devices[1].delay_s = 0.6
        p = await poll(bus, 1, PRESSURE)
        assert (p.quality, p.reason) == ("bad", "timeout")
        # The late answer must not be taken for the next unit's reply.
        await asyncio.sleep(0.5)
        line.devices[1].delay_s = 0.0
        assert (await poll(bus, 7, GAS)).value == pytest.approx(12.5)
        assert (await poll(bus, 1, PRESSURE)).value == pytest.approx(0.42)


@pytest.mark.parametrize("fault", ["bad-crc", "short"])
async def test_rtu_damaged_frame_is_a_frame_error(line: Line, fault: str) -> None:
    line.devices[1].frame_fault = fault  # type: ignore[assignment]
    async with line.bus() as bus:
        with pytest.raises(FrameError):
            await bus.read(1, "holding", 0, 2)
        p = await poll(bus, 1, PRESSURE)
        assert (p.quality, p.reason) == ("bad", "frame error")
        line.devices[1].frame_fault = None
        assert (await poll(bus, 1, PRESSURE)).quality == "good"


async def test_rtu_retry_gets_through_a_single_bad_frame(line: Line) -> None:
    dev = line.devices[1]
    dev.frame_fault = "bad-crc"
    async with line.bus(timeout_s=0.2, retries=2) as bus:

        async def heal() -> None:
            await asyncio.sleep(0.1)
            dev.frame_fault = None

        healer = asyncio.create_task(heal())
        p = await poll(bus, 1, PRESSURE)
        await healer
    assert p.quality == "good"


async def test_rtu_device_vanishes_and_comes_back(line: Line) -> None:
    async with line.bus() as bus:
        assert (await poll(bus, 1, PRESSURE)).quality == "good"
        await line.server.stop()
        p = await poll(bus, 1, PRESSURE)
        assert (p.quality, p.reason) == ("bad", "timeout")
        await line.server.start()
        assert (await poll(bus, 1, PRESSURE)).quality == "good"


async def test_rtu_serial_port_vanishes_and_reappears(line: Line) -> None:
    async with line.bus() as bus:
        assert (await poll(bus, 1, PRESSURE)).quality == "good"
        await line.server.stop()
        await line.pair.stop()  # the USB adapter is pulled out
        for _ in range(3):
            t0 = time.monotonic()
            with pytest.raises((BusClosed, BusTimeout)):
                await bus.read(1, "holding", 0, 2)
            assert time.monotonic() - t0 < 2.0
        p = await poll(bus, 1, PRESSURE)
        assert (p.quality, p.reason) == ("bad", "bus closed")
        await line.pair.start()  # plugged back in: same device names, new ptys
        await line.server.start()
        assert (await poll(bus, 1, PRESSURE)).quality == "good"
        assert (await poll(bus, 7, GAS)).quality == "good"


async def test_rtu_over_tcp_device_server() -> None:
    devices = [SimulatedDevice(3, PRESSURE, {"pressure": 0.8})]
    server = SimServer(devices, kind="rtu-over-tcp")
    port = await server.start()
    cfg = ModbusRtuOverTcpBusConfig(
        kind="modbus-rtu-over-tcp",
        name="gw-1",
        host="127.0.0.1",
        port=port,
        timeout_s=0.25,
        retries=0,
    )
    try:
        async with open_bus(cfg) as bus:
            p = await poll(bus, 3, PRESSURE)
            assert (p.value, p.quality) == (pytest.approx(0.8), "good")
            silent = await poll(bus, 4, PRESSURE)
            assert (silent.quality, silent.reason) == ("bad", "timeout")
            devices[0].exception_code = 4
            with pytest.raises(DeviceException) as err:
                await bus.read(3, "holding", 0, 2)
            assert err.value.code == 4
            devices[0].exception_code = None
            devices[0].frame_fault = "bad-crc"
            with pytest.raises(FrameError):
                await bus.read(3, "holding", 0, 2)
            devices[0].frame_fault = None
            await server.stop()
            gone = await poll(bus, 3, PRESSURE)
            assert gone.quality == "bad"
            await server.start()
            assert (await poll(bus, 3, PRESSURE)).quality == "good"
    finally:
        await server.stop()


async def test_rtu_inter_frame_delay_is_kept_between_transactions(line: Line) -> None:
    cfg = ModbusRtuBusConfig(
        kind="modbus-rtu",
        name="rs485-slow",
        port=str(line.pair.b),
        timeout_s=0.3,
        inter_frame_delay_s=0.05,
    )
    async with open_bus(cfg) as bus:
        assert bus.inter_frame_delay_s == 0.05
        t0 = time.monotonic()
        await asyncio.gather(*(bus.read(1, "holding", 0, 2) for _ in range(6)))
        elapsed = time.monotonic() - t0
    assert elapsed >= 5 * 0.05  # five gaps between six transactions


def test_rtu_minimum_gap_follows_the_baud_rate() -> None:
    from drivers.bus import min_frame_gap_s

    slow = ModbusRtuBusConfig(kind="modbus-rtu", name="a", port="/dev/null", baudrate=1200)
    fast = ModbusRtuBusConfig(kind="modbus-rtu", name="b", port="/dev/null", baudrate=115200)
    assert min_frame_gap_s(slow) == pytest.approx(3.5 * 11 / 1200)
    assert min_frame_gap_s(fast) == pytest.approx(0.00175)
    assert open_bus(slow).inter_frame_delay_s == pytest.approx(3.5 * 11 / 1200)
