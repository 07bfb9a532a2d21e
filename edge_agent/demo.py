"""`edge-agent demo`: the agent on simulated field devices, end to end, on loopback.

Four simulated Modbus TCP devices (two pressure transmitters on a water main that
bursts, a manhole whose methane climbs, a culvert whose level rises), the agent
with the packaged rule packs on a temporary data dir, and a subscriber printing what a central
platform receives. The broker is `--mqtt HOST:PORT` or a private mosquitto.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import resource
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from drivers.profiles import load_profiles
from drivers.simulator import SimulatedDevice, serve_tcp
from edge_agent.agent import Agent, load_everything
from edge_agent.errors import EdgeAgentError
from edge_agent.records import AlarmState, AlarmTransition
from edge_agent.uplink.client import watch

LEVEL_COLOUR = {1: "red", 2: "orange", 3: "yellow", 4: "blue"}


def parse_hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise EdgeAgentError(f"--mqtt wants HOST:PORT (e.g. 127.0.0.1:1883), got {text!r}")
    return host, int(port)


# ── the simulated field ─────────────────────────────────────────────────────
def _ramp(t: float, t0: float, t1: float, a: float, b: float) -> float:
    """a before t0, b after t1, smooth in between."""
    if t <= t0:
        return a
    if t >= t1:
        return b
    x = (t - t0) / (t1 - t0)
    return a + (b - a) * (3 * x * x - 2 * x * x * x)


def scenario(rng: random.Random) -> dict[str, Callable[[float], float]]:
    """Signals by device, as functions of seconds since the demo started."""

    def pressure(t: float, depth: float = 0.25, base: float = 0.36) -> float:
        # MPa: a burst at 20 s, isolated and repaired by 100 s; `depth` falls with distance.
        wave = base + 0.01 * math.sin(2 * math.pi * t / 90)
        drop = _ramp(t, 20, 45, 0.0, depth) - _ramp(t, 85, 100, 0.0, depth)
        return wave - drop + rng.gauss(0, 0.001)

    def pressure_far(t: float) -> float:  # the same main, further from the break
        return pressure(t, depth=0.12, base=0.40)

    def methane(t: float) -> float:  # %LEL: a leak into a manhole, then ventilation
        return max(0.0, _ramp(t, 30, 80, 1.5, 30.0) - _ramp(t, 100, 115, 0.0, 29.0)) + abs(
            rng.gauss(0, 0.2)
        )

    def level(t: float) -> float:  # m above invert: a storm fills the culvert, then it drains
        return _ramp(t, 10, 75, 0.35, 2.45) - _ramp(t, 95, 125, 0.0, 2.05) + rng.gauss(0, 0.003)

    return {"pt-101": pressure, "pt-102": pressure_far, "gd-201": methane, "lv-301": level}


DEVICES = (
    # name, unit, profile, point, tags
    ("pt-101", 1, "generic-pressure-float32", "pressure", {"zone": "dma-3", "asset": "DN300"}),
    ("pt-102", 4, "generic-pressure-float32", "pressure", {"zone": "dma-3", "asset": "DN300"}),
    ("gd-201", 2, "generic-gas-lel-int16", "methane", {"zone": "dma-3", "kind": "manhole"}),
    (
        "lv-301",
        3,
        "generic-level-int16",
        "level",
        {"zone": "dma-3", "kind": "culvert", "rim_depth_m": "2.6", "pipe_crown_m": "1.0"},
    ),
)


def demo_config(data_dir: Path, modbus_port: int, mqtt: tuple[str, int]) -> str:
    lines = [
        "## Written by `edge-agent demo`: simulated devices on loopback.",
        "[gateway]",
        'id = "gw-demo"',
        'site = "demo-city"',
        f'data_dir = "{data_dir}"',
        'rules = ["gas", "water", "drainage", "demo-overrides.toml"]',
        "",
        "[mqtt]",
        f'host = "{mqtt[0]}"',
        f"port = {mqtt[1]}",
        'topic_prefix = "lifeline"',
        "",
        "[[buses]]",
        'name = "sim-tcp"',
        'kind = "modbus-tcp"',
        'host = "127.0.0.1"',
        f"port = {modbus_port}",
        "timeout_s = 0.5",
    ]
    for name, unit, profile, _point, tags in DEVICES:
        tag_text = ", ".join(f'{k} = "{v}"' for k, v in tags.items())
        lines += [
            "",
            "[[devices]]",
            f'name = "{name}"',
            'bus = "sim-tcp"',
            f"unit = {unit}",
            f'profile = "{profile}"',
            "poll_interval_s = 1",
            f"tags = {{ {tag_text} }}",
        ]
    return "\n".join(lines) + "\n"


# Demo time is short: per-point overrides shorten the packs' off-delays so that
# alarms clear within the run (the packs' own delays are minutes long).
DEMO_OVERRIDES = """\
## Per-point overrides for the demo: same limits as the packs, shorter delays.
[[overrides]]
rule = "water.pressure.low"
points = ["pt-10*/pressure"]
on_delay_s = 3
off_delay_s = 5

[[overrides]]
rule = "gas.methane_lel.high"
points = ["gd-201/methane"]
off_delay_s = 5

[[overrides]]
rule = "drain.level.freeboard"
points = ["lv-301/level"]
on_delay_s = 3
off_delay_s = 5

[[overrides]]
rule = "drain.level.surcharge"
points = ["lv-301/level"]
on_delay_s = 3
off_delay_s = 5

## The predictions fit a line over minutes of data; the demo's storm lasts about one.
[[overrides]]
rule = "drain.level.overflow-eta"
points = ["lv-301/level"]
window_s = 30
off_delay_s = 5

[[overrides]]
rule = "drain.level.surcharge-eta"
points = ["lv-301/level"]
window_s = 30
off_delay_s = 5

[[overrides]]
rule = "gas.methane_lel.eta"
points = ["gd-201/methane"]
window_s = 30
off_delay_s = 5
"""


# ── a private broker ────────────────────────────────────────────────────────
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def private_mosquitto(workdir: Path) -> Iterator[tuple[str, int] | None]:
    exe = shutil.which("mosquitto") or shutil.which("/usr/sbin/mosquitto")
    if exe is None:
        print("demo: mosquitto is not installed; alarms are buffered but not published")
        yield None
        return
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    proc = subprocess.Popen(
        [exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield ("127.0.0.1", port)
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


# ── console output and the summary ──────────────────────────────────────────
@dataclass
class Tally:
    t0: float = field(default_factory=time.monotonic)
    transitions: list[AlarmTransition] = field(default_factory=list)
    received: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def clock(self) -> str:
        return f"[{time.monotonic() - self.t0:6.1f} s]"


def print_transition(tally: Tally, t: AlarmTransition) -> None:
    tally.transitions.append(t)
    colour = LEVEL_COLOUR.get(t.level, "?")
    what = {
        AlarmState.RAISED: "RAISED ",
        AlarmState.LEVEL_CHANGED: "LEVEL  ",
        AlarmState.CLEARED: "CLEARED",
        AlarmState.ACKED: "ACKED  ",
    }[t.state]
    eta = f" eta {t.eta_s:.0f} s" if t.eta_s is not None else ""
    print(
        f"{tally.clock()} agent    {what} L{t.level} {colour:<6} {t.rule:<26} "
        f"{t.device}/{t.point} = {t.value:.3f} {t.unit} (limit {t.limit:g}){eta}",
        flush=True,
    )


async def platform(tally: Tally, host: str, port: int, root: str) -> None:
    """What a central platform subscribed to the alarm topics receives."""
    async for topic, payload in watch(host, port, f"{root}/alarm/#"):
        tally.received += 1
        ts = payload.get("ts")
        if isinstance(ts, int):
            tally.latencies_ms.append(time.time() * 1000 - ts)
        short = topic.removeprefix(root + "/")
        value = payload.get("value")
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(
            f"{tally.clock()} platform {short} seq={payload.get('seq')} "
            f"state={payload.get('state')} level={payload.get('level')} value={shown} "
            f"id={payload.get('id')}",
            flush=True,
        )


def summary(tally: Tally, agent: Agent, broker: tuple[str, int] | None) -> None:
    raised = sum(t.state is AlarmState.RAISED for t in tally.transitions)
    cleared = sum(t.state is AlarmState.CLEARED for t in tally.transitions)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lat = sorted(tally.latencies_ms)
    print("\n── demo summary " + "─" * 50)
    print(f"alarm transitions: {len(tally.transitions)} ({raised} raised, {cleared} cleared)")
    if broker is not None:
        print(
            f"received by the platform: {tally.received} alarm events via {broker[0]}:{broker[1]}"
        )
    if lat:
        print(
            f"reading → platform latency: median {lat[len(lat) // 2]:.0f} ms, "
            f"max {lat[-1]:.0f} ms (from the reading's timestamp to receipt)"
        )
    print(f"left in the outbox at stop: {agent.depth_at_stop} messages")
    print(f"peak memory (agent + simulator + numba): {rss_mb:.0f} MB")
    print("─" * 66)


async def run_demo(broker: tuple[str, int] | None, duration_s: float) -> int:
    rng = random.Random(7)
    signals = scenario(rng)
    profiles = load_profiles([])
    with tempfile.TemporaryDirectory(prefix="edge-agent-demo-") as tmp:
        work = Path(tmp)
        with contextlib.ExitStack() as stack:
            target = broker or stack.enter_context(private_mosquitto(work))
            devices = [
                SimulatedDevice(unit, profiles[profile], {point: signals[name]})
                for name, unit, profile, point, _ in DEVICES
            ]
            async with serve_tcp(devices, host="127.0.0.1", port=0) as modbus_port:
                mqtt = target or ("127.0.0.1", _free_port())
                (work / "gateway.toml").write_text(demo_config(work / "data", modbus_port, mqtt))
                (work / "demo-overrides.toml").write_text(DEMO_OVERRIDES)
                cfg, profs, ruleset = load_everything(work / "gateway.toml")
                tally = Tally()
                agent = Agent(
                    cfg,
                    profs,
                    ruleset,
                    config_path=work / "gateway.toml",
                    on_alarm=lambda t: print_transition(tally, t),
                )
                print(
                    f"demo: {len(devices)} simulated devices on 127.0.0.1:{modbus_port}, "
                    f"MQTT {'to ' + ':'.join(map(str, target)) if target else 'off'}, "
                    f"{duration_s:.0f} s (Ctrl-C stops)\n"
                    f"demo: watch with: mosquitto_sub -h {mqtt[0]} -p {mqtt[1]} "
                    f"-t '{cfg.root_topic}/#' -v",
                    flush=True,
                )
                async with asyncio.TaskGroup() as tg:
                    run = tg.create_task(agent.run())
                    watcher = (
                        tg.create_task(platform(tally, *target, cfg.root_topic)) if target else None
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(run), timeout=duration_s)
                    agent.stop()
                    await run
                    await asyncio.sleep(0.5)  # let the platform print the last events
                    if watcher is not None:
                        watcher.cancel()
                summary(tally, agent, target)
    return 0
