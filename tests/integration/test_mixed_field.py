"""Every bus kind at once, eight profiles, faults injected while polling: healthy
devices keep their rate, faulty ones go offline with the right reason, and
everything recovers without reopening a bus."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from drivers.bus import BusLine, open_bus
from drivers.device import read_device
from drivers.planner import plan_reads
from drivers.profiles import load_profiles
from drivers.schedule import BackoffPolicy, DeviceHealth, Ticker
from edge_agent.config import load_config
from fieldsim.field import FieldDevice, SimField

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

PROFILES = load_profiles([])
INTERVAL_S = 0.25
KINDS = {
    "tcp-1": "modbus-tcp",
    "rs485-1": "modbus-rtu",
    "gw-1": "modbus-rtu-over-tcp",
    "ascii-1": "serial-line",
}
DEVICES = [
    FieldDevice("pt-101", "tcp-1", 1, "generic-pressure-float32", {"pressure": 0.35}),
    FieldDevice("wm-102", "tcp-1", 2, "xintai-water-meter", {"pipe_status": 170, "flow": 3.2}),
    FieldDevice("pt-201", "rs485-1", 1, "ptmb-pressure", {"decimals": 3, "pressure": 0.42}),
    FieldDevice("gd-202", "rs485-1", 2, "generic-gas-lel-int16", {"methane": 4.5}),
    FieldDevice("rg-203", "rs485-1", 192, "dfrobot-sen0575", {"rain_period": 12.5}),
    FieldDevice("lv-301", "gw-1", 200, "endress-hauser-fmr20", {"level": 1.25}),
    FieldDevice("fm-302", "gw-1", 1, "tuf-2000m", {"flow": 120.0}),
    FieldDevice(
        "us-401", "ascii-1", 1, "maxbotix-hrxl-serial", {"distance": 1.5}, "R{distance:04.0f}"
    ),
]


@dataclass
class Track:
    health: DeviceHealth
    polls: list[tuple[float, str, str | None]] = field(default_factory=list)  # t, quality, reason
    changes: list[tuple[float, str]] = field(default_factory=list)


async def poll_loop(bus: BusLine, dev: FieldDevice, track: Track, stop: asyncio.Event) -> None:
    prof = PROFILES[dev.profile]
    plan = plan_reads(prof)
    main = prof.points[0].name if prof.protocol == "line" else plan[0].points[0]
    ticker = Ticker(INTERVAL_S, start=time.monotonic())
    while not stop.is_set():
        values = {v.name: v for v in await read_device(bus, dev.unit, plan, prof)}
        now = time.monotonic()
        change = track.health.record(list(values.values()))
        if change:
            track.changes.append((now, change))
        track.polls.append((now, values[main].quality, values[main].reason))
        bus.overruns += ticker.overruns_since_last()
        due = track.health.next_poll(ticker, now)
        try:
            async with asyncio.timeout(max(0.0, due - time.monotonic())):
                await stop.wait()
        except TimeoutError:
            pass


def rate(track: Track, t0: float, t1: float) -> float:
    n = sum(1 for t, q, _ in track.polls if t0 < t <= t1 and q == "good")
    return n / ((t1 - t0) / INTERVAL_S)


async def test_mixed_field_with_faults(tmp_path: Path) -> None:
    policy = BackoffPolicy(offline_after=2, first_probe_s=0.5, max_probe_s=1.0)
    tracks = {d.name: Track(DeviceHealth(INTERVAL_S, policy)) for d in DEVICES}
    stop = asyncio.Event()
    async with SimField(tmp_path, DEVICES, KINDS, timeout_s=0.15, retries=0) as fld:
        # the generated settings are a valid gateway config
        gw = tmp_path / "gateway.toml"
        gw.write_text(
            '[gateway]\nid = "gw-soak"\nsite = "lab"\n\n' + fld.buses_toml() + fld.devices_toml()
        )
        assert len(load_config(gw, check_files=False).devices) == len(DEVICES)

        async with AsyncExitStack() as stack:
            buses = {
                cfg.name: await stack.enter_async_context(open_bus(cfg)) for cfg in fld.buses()
            }
            async with asyncio.TaskGroup() as tg:
                for d in DEVICES:
                    tg.create_task(poll_loop(buses[d.bus], d, tracks[d.name], stop))
                t_start = time.monotonic()
                await asyncio.sleep(1.5)
                # faults: a dead gas detector, a flow meter in fault, the RS-485 adapter pulled
                fld.modbus("gd-202").silent = True
                fld.modbus("fm-302").exception_code = 4
                await asyncio.sleep(1.5)
                t_unplug = time.monotonic()
                await fld.unplug("rs485-1")
                await asyncio.sleep(2.0)
                await fld.plug("rs485-1")
                t_plug = time.monotonic()
                fld.modbus("gd-202").silent = False
                fld.modbus("fm-302").exception_code = None
                await asyncio.sleep(3.0)
                t_end = time.monotonic()
                stop.set()

    # healthy devices on other buses kept their rate through all of it
    for name in ("pt-101", "wm-102", "lv-301", "us-401"):
        assert rate(tracks[name], t_start + 0.5, t_end) >= 0.8, name
        assert tracks[name].changes == [], name
    # the dead detector went offline once with "timeout" and came back
    gd = tracks["gd-202"]
    assert [c for _, c in gd.changes] == ["offline", "online"]
    assert any(r == "timeout" for _, _, r in gd.polls)
    # the pulled adapter took every rs485 device offline ("bus closed"), all came back
    for name in ("pt-201", "rg-203"):
        tr = tracks[name]
        assert [c for _, c in tr.changes] == ["offline", "online"], name
        assert any(r == "bus closed" for t, _, r in tr.polls if t_unplug < t < t_plug), name
        assert tr.polls[-1][1] == "good", name
    # an exception reply means the device is alive: bad data, but never offline
    fm = tracks["fm-302"]
    assert fm.changes == []
    assert any(r == "exception code 4" for _, _, r in fm.polls)
    assert fm.polls[-1][1] == "good"
    assert rate(fm, t_plug + 0.5, t_end) >= 0.8
    # and after recovery everything is good again
    for name, tr in tracks.items():
        assert tr.polls[-1][1] == "good", (name, tr.polls[-3:])
        assert tr.health.online, name
