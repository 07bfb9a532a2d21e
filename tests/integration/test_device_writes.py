"""Writes against real pymodbus servers over TCP, RTU on a pty pair and RTU over TCP:
every type and byte order reads support, scale and offset inverted, coils and bits,
read-back mismatch, exception and timeout, and a write ahead of queued polls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from drivers.bus import POLL, BusLine, open_bus
from drivers.device import read_device
from drivers.planner import plan_reads
from drivers.profiles import Profile
from drivers.settings import ModbusRtuBusConfig, ModbusRtuOverTcpBusConfig, ModbusTcpBusConfig
from drivers.write import WriteRefusedError, write_point
from fieldsim.modbus_device import SimulatedDevice
from fieldsim.modbus_server import SimServer
from fieldsim.ptypair import PtyPair

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

ORDERS_16 = ("AB", "BA")
ORDERS_32 = ("ABCD", "CDAB", "BADC", "DCBA")
TYPES = {"int16": ORDERS_16, "uint16": ORDERS_16, "int32": ORDERS_32, "uint32": ORDERS_32,
         "float32": ORDERS_32, "int64": ORDERS_32, "float64": ORDERS_32}  # fmt: skip
# A value per type that is exact after scale 0.1 and offset -5 (and negative where signed).
VALUES = {"int16": -12.3, "uint16": 4321.0, "int32": -70000.5, "uint32": 3_000_000.1,
          "float32": 1.5, "int64": -9_000_000_000.0, "float64": 123.456789}  # fmt: skip


def _points() -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = []
    address = 0
    for type_, orders in TYPES.items():
        for order in orders:
            scaled = type_ != "float64"
            points.append({
                "name": f"{type_}-{order}", "quantity": "setpoint", "address": address,
                "type": type_, "byte_order": order, "writable": True,
                "scale": 0.1 if scaled else 1.0, "offset": -5.0 if scaled else 0.0,
            })  # fmt: skip
            address += 4
    points += [
        {"name": "relay-1", "quantity": "command", "table": "coil", "address": 0,
         "type": "bool", "writable": True, "write_range": [0, 1]},
        {"name": "relay-2", "quantity": "command", "table": "coil", "address": 1,
         "type": "bool", "writable": True},
        {"name": "run-bit", "quantity": "command", "address": 200, "type": "bool", "bit": 3,
         "writable": True},
        {"name": "mode-bit", "quantity": "status", "address": 200, "type": "bool", "bit": 0},
        {"name": "speed", "quantity": "frequency", "address": 300, "type": "uint16",
         "scale": 0.01, "writable": True, "write_range": [0, 50]},
        {"name": "fault", "quantity": "status", "table": "discrete", "address": 0,
         "type": "bool"},
    ]  # fmt: skip
    return points


PROFILE = Profile.model_validate({
    "id": "test-writable", "manufacturer": "test", "model": "every type",
    "source": "tests/integration/test_device_writes.py", "points": _points(),
})  # fmt: skip
TYPED = [f"{type_}-{order}" for type_, orders in TYPES.items() for order in orders]


BusMaker = Callable[..., BusLine]


@pytest.fixture(params=["tcp", "rtu", "rtu-over-tcp"])
async def field(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[SimulatedDevice, BusMaker]]:
    dev = SimulatedDevice(5, PROFILE, {"mode-bit": 1.0})
    kind: str = request.param
    if kind == "rtu":
        pair = PtyPair(tmp_path)
        await pair.start()
        server = SimServer([dev], kind="rtu", serial_port=str(pair.a), baudrate=38400)
        await server.start()

        def make(timeout_s: float = 0.3) -> BusLine:
            return open_bus(ModbusRtuBusConfig(kind="modbus-rtu", name="rs485", port=str(pair.b),
                            baudrate=38400, timeout_s=timeout_s, retries=0))  # fmt: skip

        try:
            yield dev, make
        finally:
            await server.stop()
            await pair.stop()
        return
    server = SimServer([dev], kind="tcp" if kind == "tcp" else "rtu-over-tcp")
    port = await server.start()

    def make_tcp(timeout_s: float = 0.3) -> BusLine:
        if kind == "tcp":
            return open_bus(ModbusTcpBusConfig(kind="modbus-tcp", name="tcp", host="127.0.0.1",
                            port=port, timeout_s=timeout_s, retries=0))  # fmt: skip
        return open_bus(ModbusRtuOverTcpBusConfig(kind="modbus-rtu-over-tcp", name="gw",
                        host="127.0.0.1", port=port, timeout_s=timeout_s, retries=0))  # fmt: skip

    try:
        yield dev, make_tcp
    finally:
        await server.stop()


async def _read(bus: BusLine, names: list[str]) -> dict[str, float]:
    pts = [PROFILE.point(n) for n in names]
    got = await read_device(bus, 5, plan_reads(PROFILE, pts), PROFILE)
    return {v.name: v.value for v in got}


async def test_every_type_and_byte_order_round_trips(
    field: tuple[SimulatedDevice, BusMaker],
) -> None:
    dev, make = field
    async with make() as bus:
        for name in TYPED:
            value = VALUES[PROFILE.point(name).type]
            out = await write_point(bus, 5, PROFILE, name, value)
            assert out.ok, (name, out.reason)
            assert out.read_back == pytest.approx(value, rel=1e-6)
        polled = await _read(bus, TYPED)
    for name in TYPED:
        assert polled[name] == pytest.approx(VALUES[PROFILE.point(name).type], rel=1e-6), name
    # FC6 for one register, FC16 for several: the simulator saw each write's width.
    widths = {a: len(v) for t, a, v in dev.writes if t == "holding"}
    assert widths[PROFILE.point("int16-AB").address] == 1
    assert widths[PROFILE.point("float64-DCBA").address] == 4


async def test_coils_and_a_bit_inside_a_register(field: tuple[SimulatedDevice, BusMaker]) -> None:
    dev, make = field
    async with make() as bus:
        on = await write_point(bus, 5, PROFILE, "relay-1", 1)
        run = await write_point(bus, 5, PROFILE, "run-bit", 1)
        polled = await _read(bus, ["relay-1", "relay-2", "run-bit", "mode-bit"])
        off = await write_point(bus, 5, PROFILE, "run-bit", 0)
        after = await _read(bus, ["run-bit", "mode-bit"])
    assert (on.ok, run.ok, off.ok) == (True, True, True)
    assert polled == {"relay-1": 1.0, "relay-2": 0.0, "run-bit": 1.0, "mode-bit": 1.0}
    # The bit's neighbours in the register are kept: read, modify, write in one turn.
    assert after == {"run-bit": 0.0, "mode-bit": 1.0}
    assert ("coil", 0, (1,)) in dev.writes


async def test_refused_before_anything_is_sent(field: tuple[SimulatedDevice, BusMaker]) -> None:
    dev, make = field
    async with make() as bus:
        with pytest.raises(WriteRefusedError, match="outside write_range"):
            await write_point(bus, 5, PROFILE, "speed", 60)
        with pytest.raises(WriteRefusedError, match="not writable"):
            await write_point(bus, 5, PROFILE, "mode-bit", 1)
        with pytest.raises(WriteRefusedError, match="outside uint16"):
            await write_point(bus, 5, PROFILE, "uint16-AB", -100)
    assert dev.writes == []


async def test_read_back_mismatch_exception_and_timeout_fail_with_reasons(
    field: tuple[SimulatedDevice, BusMaker],
) -> None:
    dev, make = field
    async with make(timeout_s=0.2) as bus:
        dev.ignore_writes = True
        stuck = await write_point(bus, 5, PROFILE, "speed", 25)
        dev.ignore_writes = False
        dev.exception_code = 4
        refused = await write_point(bus, 5, PROFILE, "speed", 25)
        dev.exception_code = None
        dev.silent = True
        silent = await write_point(bus, 5, PROFILE, "relay-2", 1)
        dev.silent = False
        ok = await write_point(bus, 5, PROFILE, "speed", 25)
    assert (stuck.ok, (stuck.reason or "")[:11]) == (False, "read back 0")
    assert (refused.ok, (refused.reason or "")[:16]) == (False, "exception code 4")
    assert (silent.ok, (silent.reason or "")[:7]) == (False, "timeout")
    assert (ok.ok, ok.read_back) == (True, pytest.approx(25))


async def test_write_goes_ahead_of_queued_polls(field: tuple[SimulatedDevice, BusMaker]) -> None:
    dev, make = field
    dev.delay_s = 0.03  # each read holds the line a while, so polls queue up
    order: list[str] = []
    async with make(timeout_s=1.0) as bus:

        async def poll(i: int) -> None:
            await bus.read(5, "holding", 300, 1, priority=POLL)
            order.append(f"poll-{i}")

        async def write() -> None:
            out = await write_point(bus, 5, PROFILE, "speed", 10)
            assert out.ok
            order.append("write")

        polls = [asyncio.create_task(poll(i)) for i in range(6)]
        await asyncio.sleep(0.01)  # the first poll is on the line, the rest wait
        await asyncio.gather(write(), *polls)
    assert order.index("write") <= 1, order
