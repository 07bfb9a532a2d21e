"""Fault scenario: the disk fills up during a broker outage, the broker comes back while
it is still full, then space is freed.

A real filesystem that fills up (a 4 MB tmpfs, filled by another file as a runaway log
would; mounting needs root, as CI has), the agent as a subprocess, a real mosquitto that
is stopped and started, a real Modbus server. Judged from what the platform receives:

- with the broker back and the disk still full, the agent holds one session (one
  `online` birth, no connect/fail loop) and keeps publishing `health`;
- while the disk is full, readings held in memory stay within `max_held_readings`, the
  oldest dropped and counted; alarms are never dropped;
- once space is freed, every alarm raised or cleared meanwhile arrives, once after
  dedupe by `seq`, in order, and no `seq` names two different messages.

`tests/integration/test_faults.py` runs one round; `bench/faults.py` runs many.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

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

MAX_HELD = 300  # readings; 3 devices at 10 polls/s pass it in 10 s
WAIT_S = 60

RULES = """\
[[rules]]
id = "low"
kind = "threshold"
quantity = "pressure"
direction = "below"
levels = [ { level = 3, limit = 0.20 } ]
"""


@contextlib.contextmanager
def small_disk(path: Path, size: str = "4m") -> Iterator[Path]:
    # As root (CI), or through passwordless sudo: a tmpfs the test's user may write to.
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    path.mkdir()
    opts = f"size={size},uid={os.getuid()},gid={os.getgid()},mode=0700"
    mounted = subprocess.run([*sudo, "mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)])
    assert mounted.returncode == 0, "this test mounts a tmpfs: run it as root or with sudo"
    try:
        yield path
    finally:
        subprocess.run([*sudo, "umount", "-l", str(path)], check=False)


def fill(path: Path) -> Path:
    """Write until the filesystem says ENOSPC."""
    filler = path / "runaway.log"
    with filler.open("ab") as f:
        while (code := _write(f)) is None:
            pass
    assert code == errno.ENOSPC
    return filler


def _write(f: BinaryIO) -> int | None:
    """Append 64 KiB; the errno when the filesystem refuses."""
    try:
        f.write(b"x" * 65536)
        f.flush()
    except OSError as err:
        return err.errno
    return None


class Level:
    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, _t: float) -> float:
        return self.value


@dataclass
class DiskReport:
    rounds: int = 0
    births_while_full: list[int] = field(default_factory=list)  # per round, broker back
    held_max: int = 0  # the most readings held in memory that health showed
    dropped_readings: int = 0  # at the end
    alarm_states: list[str] = field(default_factory=list)  # by seq, after dedupe
    duplicates: int = 0  # alarm events received more than once (same seq)
    seq_reused: int = 0  # seqs that named two different messages
    tracebacks: int = 0


def births(platform: Platform) -> int:
    return sum(1 for p in platform.of("status") if p.get("state") == "online")


def healths(platform: Platform) -> list[dict[str, Any]]:
    return platform.of("health")


def alarm_events(platform: Platform) -> dict[int, dict[str, Any]]:
    return {e["seq"]: e for e in platform.of("alarm/pt-1/pressure")}


async def run_disk_full_outage(tmp: Path, broker: Broker, rounds: int = 1) -> DiskReport:
    """`rounds` rounds of: broker down, disk full, alarms raised and cleared, broker back
    with the disk still full, space freed. `broker` must keep sessions (persistence)."""
    profile = load_profiles([])["generic-pressure-float32"]
    pressure = Level(0.35)
    devices = [SimulatedDevice(1, profile, {"pressure": pressure})]
    devices += [SimulatedDevice(u, profile, {"pressure": Level(0.35)}) for u in (2, 3)]
    platform = Platform()
    root = "lifeline/test-site/gw-test"
    report = DiskReport()
    with small_disk(tmp / "disk") as disk:
        async with serve_tcp(devices) as port:
            (tmp / "rules.toml").write_text(RULES)
            config = tmp / "gateway.toml"
            config.write_text(
                gateway_toml(
                    disk / "data", broker.port,
                    devices=[{"name": f"pt-{u}", "bus": "plant", "unit": u,
                              "poll_interval_s": 0.1, "profile": "generic-pressure-float32"}
                             for u in (1, 2, 3)],
                    buses=[{"name": "plant", "kind": "modbus-tcp", "host": "127.0.0.1",
                            "port": port}],
                    rules=["rules.toml"],
                    extra=f"health_interval_s = 1\n\n[buffer]\nmax_held_readings = {MAX_HELD}\n",
                )
            )  # fmt: skip
            sub = asyncio.create_task(
                subscribe_forever(platform, broker.port, f"{root}/#", "platform-disk", True)
            )
            try:
                async with agent_process(config, tmp / "agent.log") as agent:
                    await platform.wait_for(lambda: bool(platform.of("telemetry/pt-1")), WAIT_S)
                    for r in range(rounds):
                        await one_round(disk, broker, platform, pressure, report, r)
                    assert agent.proc is not None
                    assert await agent.stop(timeout_s=60) == 0, agent.log_text()
                    report.tracebacks = agent.log_text().count("Traceback")
            finally:
                sub.cancel()
    seen: dict[int, str] = {}
    for topic, payload, _ in platform.messages:
        if "seq" not in payload:
            continue
        body = topic + json.dumps(payload, sort_keys=True)
        if seen.setdefault(payload["seq"], body) != body:
            report.seq_reused += 1
    events = alarm_events(platform)
    report.duplicates = len(platform.of("alarm/pt-1/pressure")) - len(events)
    report.alarm_states = [events[s]["state"] for s in sorted(events)]
    h = healths(platform)
    report.dropped_readings = int(h[-1]["buffer"]["dropped_readings"]) if h else 0
    report.rounds = rounds
    return report


async def one_round(
    disk: Path, broker: Broker, platform: Platform, pressure: Level, report: DiskReport,
    r: int,
) -> None:  # fmt: skip
    broker.stop()
    await asyncio.sleep(1.0)
    filler = fill(disk)
    # While the disk is full and the broker away: raised, cleared, raised again; and
    # long enough for the held readings to pass their bound.
    for value in (0.1, 0.35, 0.1):
        pressure.value = value
        await asyncio.sleep(1.5)
    await asyncio.sleep(MAX_HELD / 30 + 2)
    before = births(platform)
    n_health = len(healths(platform))
    broker.start()
    # Back with the disk still full: one session, which keeps sending health.
    await platform.wait_for(lambda: births(platform) > before, WAIT_S)
    await platform.wait_for(lambda: len(healths(platform)) >= n_health + 5, WAIT_S)
    report.births_while_full.append(births(platform) - before)
    for h in healths(platform)[n_health:]:
        report.held_max = max(report.held_max, int(h["buffer"].get("held_readings", -1)))
    # Space freed: everything owed arrives; then clear for the next round.
    filler.unlink()
    await platform.wait_for(lambda: len(alarm_events(platform)) >= 4 * r + 3, WAIT_S)
    pressure.value = 0.35
    await platform.wait_for(lambda: len(alarm_events(platform)) >= 4 * r + 4, WAIT_S)


def judge(report: DiskReport) -> None:
    assert report.births_while_full == [1] * report.rounds, "connect/fail loop on a full disk"
    assert 0 <= report.held_max <= MAX_HELD, "readings piled up in memory"
    assert report.dropped_readings > 0, "the bound dropped nothing: the test did not reach it"
    assert report.alarm_states == ["raised", "cleared", "raised", "cleared"] * report.rounds
    assert report.seq_reused == 0
    assert report.tracebacks == 0
