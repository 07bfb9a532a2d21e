"""ASCII serial-line sensors over a real pty pair: streaming and polled, with faults."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from drivers.base import PointValue
from drivers.bus import BusLine, open_bus
from drivers.device import read_device
from drivers.planner import plan_reads
from drivers.profiles import Profile, load_profile, load_profiles
from drivers.settings import SerialLineBusConfig
from fieldsim.line import LineSensor, LineSimServer
from fieldsim.ptypair import PtyPair

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

MAXBOTIX = load_profiles([])["maxbotix-hrxl-serial"]

POLLED = """
id = "test-polled-csv"
manufacturer = "test"
model = "polled CSV sensor"
source = "test"
protocol = "line"
line = { request = "#{unit:02d}RD\\r", separator = ",", terminator = "\\r\\n" }

[[points]]
name = "level"
quantity = "level"
unit = "m"
field = "1"
range = [0.0, 5.0]

[[points]]
name = "temperature"
quantity = "temperature"
unit = "°C"
field = "2"
scale = 0.1
"""


def line_bus(port: Path, timeout_s: float = 0.3) -> BusLine:
    cfg = SerialLineBusConfig(
        kind="serial-line", name="ascii-1", port=str(port), timeout_s=timeout_s
    )
    return open_bus(cfg)


async def poll(bus: BusLine, unit: int, profile: Profile) -> dict[str, PointValue]:
    return {v.name: v for v in await read_device(bus, unit, plan_reads(profile), profile)}


async def test_streaming_sensor_values_and_faults(tmp_path: Path) -> None:
    sensor = LineSensor(MAXBOTIX, "R{distance:04.0f}", {"distance": 1.234}, period_s=0.05)
    async with PtyPair(tmp_path) as pair:
        sim = LineSimServer([sensor], str(pair.a))
        await sim.start()
        try:
            async with line_bus(pair.b) as bus:
                assert plan_reads(MAXBOTIX) == []
                d = (await poll(bus, 1, MAXBOTIX))["distance"]
                assert (d.value, d.quality) == (pytest.approx(1.234), "good")

                sensor.signals["distance"] = 5.0  # the sensor's "nothing seen"
                await asyncio.sleep(0.2)
                d = (await poll(bus, 1, MAXBOTIX))["distance"]
                assert (d.quality, d.reason) == ("bad", "no value (sentinel 5000)")

                sensor.garbage = True
                await asyncio.sleep(0.2)
                d = (await poll(bus, 1, MAXBOTIX))["distance"]
                assert (d.quality, d.reason) == ("bad", "decode error: line does not match")
                sensor.garbage = False

                sensor.silent = True
                await asyncio.sleep(2.2)  # older than line.max_age_s
                d = (await poll(bus, 1, MAXBOTIX))["distance"]
                assert (d.quality, d.reason) == ("bad", "timeout")
                sensor.silent = False
                sensor.signals["distance"] = 0.8
                await asyncio.sleep(0.2)
                d = (await poll(bus, 1, MAXBOTIX))["distance"]
                assert (d.value, d.quality) == (pytest.approx(0.8), "good")
        finally:
            await sim.stop()


async def test_polled_sensors_share_a_line(tmp_path: Path) -> None:
    f = tmp_path / "polled.toml"
    f.write_text(POLLED)
    profile = load_profile(f)
    a = LineSensor(profile, "1,{level:.3f},{temperature:.0f}", {"level": 1.5, "temperature": 21.5})
    b = LineSensor(profile, "2,{level:.3f},{temperature:.0f}", {"level": 2.5}, unit=2)
    async with PtyPair(tmp_path) as pair:
        sim = LineSimServer([a, b], str(pair.a))
        await sim.start()
        try:
            async with line_bus(pair.b) as bus:
                for _ in range(3):
                    va = await poll(bus, 1, profile)
                    vb = await poll(bus, 2, profile)
                    assert va["level"].value == pytest.approx(1.5)
                    assert va["temperature"].value == pytest.approx(21.5)
                    assert vb["level"].value == pytest.approx(2.5)
                b.silent = True
                vb = await poll(bus, 2, profile)
                assert {v.reason for v in vb.values()} == {"timeout"}
                assert math.isnan(vb["level"].value)
                assert (await poll(bus, 1, profile))["level"].quality == "good"
        finally:
            await sim.stop()


async def test_serial_port_vanishes_and_reappears(tmp_path: Path) -> None:
    sensor = LineSensor(MAXBOTIX, "R{distance:04.0f}", {"distance": 2.0}, period_s=0.05)
    pair = PtyPair(tmp_path)
    await pair.start()
    sim = LineSimServer([sensor], str(pair.a))
    await sim.start()
    try:
        async with line_bus(pair.b) as bus:
            assert (await poll(bus, 1, MAXBOTIX))["distance"].quality == "good"
            await sim.stop()
            await pair.stop()
            await asyncio.sleep(0.1)
            d = (await poll(bus, 1, MAXBOTIX))["distance"]
            assert d.quality == "bad"
            assert d.reason in ("bus closed", "timeout")
            d = (await poll(bus, 1, MAXBOTIX))["distance"]
            assert (d.quality, d.reason) == ("bad", "bus closed")
            await pair.start()
            await sim.start()
            await asyncio.sleep(0.2)
            d = (await poll(bus, 1, MAXBOTIX))["distance"]
            assert (d.value, d.quality) == (pytest.approx(2.0), "good")
    finally:
        await sim.stop()
        await pair.stop()
