"""read_device against a real server: every shipped profile, every table and type,
the illegal-address fallback and giving up early on a silent unit."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from drivers.bus import BusLine, open_bus
from drivers.device import read_device
from drivers.planner import plan_reads
from drivers.profiles import PointSpec, Profile, load_profiles
from drivers.settings import ModbusRtuOverTcpBusConfig, ModbusTcpBusConfig
from fieldsim.modbus_device import SimulatedDevice
from fieldsim.modbus_server import SimServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

PROFILES = load_profiles([])
MODBUS = [p for p in PROFILES.values() if p.protocol == "modbus"]


def sample(spec: PointSpec) -> float:
    if spec.type == "bool":
        return 1.0
    if spec.range is not None:
        return spec.range[0] + (spec.range[1] - spec.range[0]) * 0.4
    return 7.0


def signals(profile: Profile) -> dict[str, float]:
    values = {p.name: sample(p) for p in profile.points}
    for p in profile.points:
        if p.decimals_from is not None:
            values[p.decimals_from] = 2.0
        if p.valid_if is not None:
            values[p.valid_if.point] = p.valid_if.values[0]
    return values


async def tcp(server: SimServer, timeout_s: float = 0.2) -> BusLine:
    port = await server.start()
    cfg = ModbusTcpBusConfig(
        kind="modbus-tcp", name="tcp", host="127.0.0.1", port=port, timeout_s=timeout_s, retries=0
    )
    return open_bus(cfg)


@pytest.fixture
async def every_profile() -> AsyncIterator[tuple[BusLine, dict[int, SimulatedDevice]]]:
    devices = {
        unit: SimulatedDevice(unit, prof, signals(prof))
        for unit, prof in enumerate(MODBUS, start=1)
    }
    server = SimServer(list(devices.values()))
    bus = await tcp(server)
    try:
        async with bus:
            yield bus, devices
    finally:
        await server.stop()


async def test_every_shipped_profile_reads_good_values(
    every_profile: tuple[BusLine, dict[int, SimulatedDevice]],
) -> None:
    bus, devices = every_profile
    for unit, dev in devices.items():
        prof = dev.profile
        expected = signals(prof)
        values = await read_device(bus, unit, plan_reads(prof), prof)
        assert [v.name for v in values] == [p.name for p in prof.points]
        for v in values:
            spec = prof.point(v.name)
            assert v.quality == "good", (prof.id, v)
            assert v.value == pytest.approx(expected[v.name], abs=max(abs(spec.scale), 1e-4))
        assert dev.requests == len(plan_reads(prof)), prof.id  # the plan is what went out


def profile(points: list[dict[str, Any]], **quirks: Any) -> Profile:
    return Profile.model_validate(
        {
            "id": "t-all-types",
            "manufacturer": "test",
            "model": "test",
            "source": "test",
            "quirks": quirks,
            "points": [{"quantity": "x", **p} for p in points],
        }
    )


ALL_TYPES = profile(
    [
        {"name": "i16", "address": 0, "type": "int16"},
        {"name": "u16", "address": 1, "type": "uint16", "byte_order": "BA"},
        {"name": "i32", "address": 2, "type": "int32", "byte_order": "CDAB"},
        {"name": "u32", "address": 4, "type": "uint32", "byte_order": "BADC"},
        {"name": "f32", "address": 6, "type": "float32", "byte_order": "DCBA"},
        {"name": "i64", "address": 8, "type": "int64", "byte_order": "CDAB"},
        {"name": "f64", "address": 12, "type": "float64", "byte_order": "DCBA"},
        {"name": "b0", "address": 16, "type": "bool", "bit": 0},
        {"name": "b9", "address": 16, "type": "bool", "bit": 9},
        {"name": "in1", "table": "input", "address": 3, "type": "float32"},
        {"name": "coil5", "table": "coil", "address": 5, "type": "bool"},
        {"name": "coil6", "table": "coil", "address": 6, "type": "bool"},
        {"name": "di40", "table": "discrete", "address": 40, "type": "bool"},
    ]
)


async def test_every_table_and_type_over_a_real_server() -> None:
    values = {
        "i16": -1234,
        "u16": 54321,
        "i32": -7654321,
        "u32": 3000000000,
        "f32": -2.5,
        "i64": -(2**40) - 3,
        "f64": 1234.5678,
        "b0": 1,
        "b9": 1,
        "in1": 0.125,
        "coil5": 1,
        "coil6": 0,
        "di40": 1,
    }
    dev = SimulatedDevice(9, ALL_TYPES, values)
    server = SimServer([dev])
    bus = await tcp(server)
    try:
        async with bus:
            plan = plan_reads(ALL_TYPES)
            assert [r.table for r in plan] == ["holding", "input", "coil", "discrete"]
            got = {v.name: v for v in await read_device(bus, 9, plan, ALL_TYPES)}
            dev.set_signal("b9", 0)
            b9_off = {v.name: v for v in await read_device(bus, 9, plan, ALL_TYPES)}["b9"]
    finally:
        await server.stop()
    for name, want in values.items():
        assert got[name].quality == "good", got[name]
        assert got[name].value == pytest.approx(want), name
    assert b9_off.value == 0.0
    assert bus.transactions == 8


async def test_refused_merged_read_falls_back_to_one_request_per_point(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gappy = profile(
        [
            {"name": "a", "address": 0, "type": "uint16"},
            {"name": "b", "address": 5, "type": "uint16"},
            {"name": "c", "address": 7, "type": "float32"},
        ]
    )
    assert len(plan_reads(gappy)) == 1  # registers 0..8, reading over 1..4 and 6
    dev = SimulatedDevice(4, gappy, {"a": 11, "b": 22, "c": 3.5}, strict=True)
    server = SimServer([dev])
    bus = await tcp(server)
    try:
        async with bus:
            with caplog.at_level(logging.WARNING, logger="drivers.device"):
                values = await read_device(bus, 4, plan_reads(gappy), gappy)
    finally:
        await server.stop()
    assert [(v.value, v.quality) for v in values] == [(11, "good"), (22, "good"), (3.5, "good")]
    assert dev.requests == 4  # the refused merged read, then one per point
    assert "max_gap = 0" in caplog.text


async def test_silent_unit_costs_one_timeout_not_one_per_request() -> None:
    tuf = PROFILES["tuf-2000m"]
    assert len(plan_reads(tuf)) >= 3
    dev = SimulatedDevice(1, tuf)
    dev.silent = True
    server = SimServer([dev])
    bus = await tcp(server, timeout_s=0.1)
    try:
        async with bus:
            values = await read_device(bus, 1, plan_reads(tuf), tuf)
    finally:
        await server.stop()
    assert {(v.quality, v.reason) for v in values} == {("bad", "timeout")}
    assert len(values) == len(tuf.points)
    assert dev.requests == 1


async def test_garbled_unit_costs_one_failed_request_not_one_per_request() -> None:
    tuf = PROFILES["tuf-2000m"]
    dev = SimulatedDevice(1, tuf)
    dev.frame_fault = "bad-crc"
    server = SimServer([dev], kind="rtu-over-tcp")
    port = await server.start()
    cfg = ModbusRtuOverTcpBusConfig(
        kind="modbus-rtu-over-tcp", name="gw", host="127.0.0.1", port=port, timeout_s=0.1,
        retries=0,
    )  # fmt: skip
    try:
        async with open_bus(cfg) as bus:
            values = await read_device(bus, 1, plan_reads(tuf), tuf)
    finally:
        await server.stop()
    assert {(v.quality, v.reason) for v in values} == {("bad", "frame error")}
    assert len(values) == len(tuf.points)
    assert dev.requests == 1
