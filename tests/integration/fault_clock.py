"""Fault scenario: the wall clock steps back and forward under a running agent.

The agent runs as a subprocess with libfaketime preloaded on its wall clock only
(`FAKETIME_DONT_FAKE_MONOTONIC`), its offset read from a file the scenario rewrites:
the agent sees what a gateway sees when NTP steps its clock. Judged from what the
platform receives (telemetry and alarm events through a real mosquitto):

- an on-delay that a step back interrupts still raises its alarm after the delay, not
  an hour later;
- an off-delay that a step forward interrupts is not cut short, and the forward step
  raises no stale alarm on points that keep answering;
- a point that goes silent just before a step back gets its stale alarm after its
  `after_s`, not an hour late;
- every step is counted in `health`, logged once, and sent once as a `clock.stepped`
  event of the gateway, with its size.

`tests/integration/test_faults.py` runs one round; `bench/faults.py` runs many.
"""

from __future__ import annotations

import asyncio
import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

HOUR_S = 3600
POLL_S = 0.2
ON_DELAY_S = 5
OFF_DELAY_S = 5
STALE_S = 4
# How far past its delay (in the agent's own rule time) an event may land on a loaded
# machine: polls late, a 1 s tick. A step is an hour; this only has to be well below it.
SLACK_MS = 15_000
WAIT_S = 40  # an event that is an hour late fails here

RULES = f"""\
[[rules]]
id = "high"
kind = "threshold"
quantity = "pressure"
direction = "above"
on_delay_s = {ON_DELAY_S}
off_delay_s = {OFF_DELAY_S}
levels = [ {{ level = 2, limit = 1.0 }} ]

[[rules]]
id = "silent"
kind = "stale"
points = ["*/*"]
after_s = {STALE_S}
level = 3
"""


def libfaketime() -> str:
    """The preload library (Debian/Ubuntu package `libfaketime`, installed by bootstrap)."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    found += sorted(glob.glob("/usr/lib/faketime/libfaketime.so.1"))
    if not found:
        raise RuntimeError("libfaketime is not installed: run ./scripts/bootstrap.sh")
    return found[0]


@dataclass
class WallClock:
    """The agent's wall-clock offset from the real clock, in seconds, as libfaketime reads
    it from a file (re-read at most once a second)."""

    path: Path
    offset_s: int = 0

    def __post_init__(self) -> None:
        self.set(0)

    def set(self, offset_s: int) -> None:
        self.offset_s = offset_s
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"{offset_s:+d}\n")
        tmp.replace(self.path)

    def env(self) -> dict[str, str]:
        return {
            "LD_PRELOAD": libfaketime(),
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_CACHE_DURATION": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }


class Level:
    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, _t: float) -> float:
        return self.value


@dataclass
class ClockReport:
    steps: int = 0
    delays_ms: dict[str, list[int]] = field(default_factory=dict)
    step_s: int = HOUR_S
    health_steps: int = 0
    log_lines: int = 0
    step_events_s: list[float] = field(default_factory=list)  # value of each, by seq

    def add(self, what: str, ms: int) -> None:
        self.delays_ms.setdefault(what, []).append(ms)


def readings(platform: Platform, device: str) -> list[dict[str, Any]]:
    return [r for m in platform.of(f"telemetry/{device}") for r in m["readings"]]


def events(platform: Platform, rule: str, device: str, state: str) -> list[dict[str, Any]]:
    seen = {e["seq"]: e for e in platform.of(f"alarm/{device}")}
    return [e for e in seen.values() if e["rule"] == rule and e["state"] == state]


def rule_delay_ms(start_ts: int, event_ts: int, step_ms: int) -> int:
    """The delay the agent applied, in its rule time. The step landed (libfaketime reads
    its file once a second) either before `start_ts` was stamped or after: take the
    reading that fits; both are judged against the delay, an hour is far from either."""
    plain, across = event_ts - start_ts, event_ts - start_ts - step_ms
    return plain if abs(plain) < abs(across) else across


async def wait_new(
    platform: Platform, rule: str, device: str, state: str, n: int
) -> dict[str, Any]:
    """The (n+1)-th `state` event of `rule` on `device`, within WAIT_S."""
    await platform.wait_for(lambda: len(events(platform, rule, device, state)) > n, WAIT_S)
    return sorted(events(platform, rule, device, state), key=lambda e: e["seq"])[n]


async def first_reading(platform: Platform, device: str, after: int, pred: Any) -> dict[str, Any]:
    """The first reading of `device` past the first `after` that satisfies `pred`."""

    def found() -> dict[str, Any] | None:
        return next((r for r in readings(platform, device)[after:] if pred(r)), None)

    await platform.wait_for(lambda: found() is not None, WAIT_S)
    hit = found()
    assert hit is not None
    return hit


async def run_clock_steps(
    tmp: Path, broker: Broker, rounds: int = 1, step_s: int = HOUR_S
) -> ClockReport:
    """`rounds` rounds of back, forward, back (`step_s` each) under one running agent."""
    profile = load_profiles([])["generic-pressure-float32"]
    level = Level(0.5)
    pt1 = SimulatedDevice(1, profile, {"pressure": level})
    pt2 = SimulatedDevice(2, profile, {"pressure": Level(0.5)})
    platform = Platform()
    root = "lifeline/test-site/gw-test"
    clock = WallClock(tmp / "faketime")
    report = ClockReport(step_s=step_s)
    step_ms = step_s * 1000
    async with serve_tcp([pt1, pt2]) as port:
        (tmp / "rules.toml").write_text(RULES)
        config = tmp / "gateway.toml"
        devices = [
            {"name": name, "bus": "plant", "unit": unit, "poll_interval_s": POLL_S,
             "profile": "generic-pressure-float32"}
            for name, unit in (("pt-1", 1), ("pt-2", 2))
        ]  # fmt: skip
        config.write_text(
            gateway_toml(
                tmp / "data", broker.port, devices=devices,
                buses=[{"name": "plant", "kind": "modbus-tcp", "host": "127.0.0.1",
                        "port": port, "timeout_s": 0.3}],
                rules=["rules.toml"], extra="health_interval_s = 1",
            )
        )  # fmt: skip
        sub = asyncio.create_task(
            subscribe_forever(platform, broker.port, f"{root}/#", "platform-clock", False)
        )
        try:
            async with agent_process(config, tmp / "agent.log", env=clock.env()) as agent:
                await platform.wait_for(lambda: len(readings(platform, "pt-2")) > 3, 60)
                for r in range(rounds):
                    base = clock.offset_s
                    # Back one hour during an on-delay: raised after the delay.
                    n = len(readings(platform, "pt-1"))
                    level.value = 1.5
                    high = await first_reading(platform, "pt-1", n, lambda x: x["value"] > 1.0)
                    clock.set(base - step_s)
                    raised = await wait_new(platform, "high", "pt-1", "raised", r)
                    report.add("on_delay", rule_delay_ms(high["ts"], raised["ts"], -step_ms))
                    # the event's ts is the wall time of the reading that decided it, or,
                    # when the step came between that reading's stamp and its detection,
                    # that time repaired by the step
                    ok = {raised["ts"], raised["ts"] + step_ms}
                    try:
                        await first_reading(platform, "pt-1", 0, lambda x, ok=ok: x["ts"] in ok)
                    except TimeoutError:
                        near = [x["ts"] - raised["ts"] for x in readings(platform, "pt-1")]
                        raise AssertionError((raised, sorted(near, key=abs)[:5])) from None
                    # Forward one hour during an off-delay: cleared after the delay, and
                    # no stale alarm on points that answer.
                    n = len(readings(platform, "pt-1"))
                    level.value = 0.5
                    low = await first_reading(platform, "pt-1", n, lambda x: x["value"] < 1.0)
                    clock.set(base)
                    cleared = await wait_new(platform, "high", "pt-1", "cleared", r)
                    report.add("off_delay", rule_delay_ms(low["ts"], cleared["ts"], step_ms))
                    later = cleared["ts"] + (STALE_S + 4) * 1000
                    await first_reading(platform, "pt-1", 0, lambda x, t=later: x["ts"] > t)
                    stale = len(events(platform, "silent", "pt-1", "raised"))
                    assert stale == 0, "a forward step raised stale on a point that answers"
                    assert len(events(platform, "silent", "pt-2", "raised")) == r
                    # Silent, then back one hour: stale after its after_s.
                    n = len(readings(platform, "pt-2"))
                    pt2.silent = True
                    await asyncio.sleep(1.0)
                    clock.set(base - step_s)
                    stale_ev = await wait_new(platform, "silent", "pt-2", "raised", r)
                    good = [x for x in readings(platform, "pt-2") if x["quality"] == "good"]
                    report.add("stale", rule_delay_ms(good[-1]["ts"], stale_ev["ts"], -step_ms))
                    pt2.silent = False
                    await wait_new(platform, "silent", "pt-2", "cleared", r)
                    report.steps += 3

                def health_steps() -> int:
                    h = platform.of("health")
                    return int(h[-1]["clock"]["steps"]) if h else -1

                def step_events() -> list[dict[str, Any]]:
                    found = events(platform, "clock.stepped", "gw-test", "raised")
                    return sorted(found, key=lambda e: e["seq"])

                await platform.wait_for(lambda: health_steps() == report.steps, WAIT_S)
                await platform.wait_for(lambda: len(step_events()) >= report.steps, WAIT_S)
                report.health_steps = health_steps()
                report.step_events_s = [float(e["value"]) for e in step_events()]
                assert await agent.stop(timeout_s=60) == 0, agent.log_text()
                report.log_lines = agent.log_text().count("wall clock stepped")
        finally:
            sub.cancel()
    return report


def judge(report: ClockReport) -> None:
    """Every delay as configured (not held an hour, not cut short), every step seen once."""
    for what, delay_s in (("on_delay", ON_DELAY_S), ("off_delay", OFF_DELAY_S),
                          ("stale", STALE_S)):  # fmt: skip
        for ms in report.delays_ms[what]:
            assert delay_s * 1000 - 300 <= ms <= delay_s * 1000 + SLACK_MS, (what, ms)
    assert report.health_steps == report.steps
    assert report.log_lines == report.steps
    expected = [-report.step_s, report.step_s, -report.step_s] * (report.steps // 3)
    assert len(report.step_events_s) == len(expected)
    for got, want in zip(report.step_events_s, expected, strict=True):
        assert abs(got - want) < 1.5, (got, want)
