"""`edge-agent demo`: the agent on simulated field devices, end to end, on loopback.

Five simulated Modbus TCP devices (two pressure transmitters on a water main that
bursts, a manhole whose methane climbs and its relay module with the fan and siren the
gas alarm starts, a culvert whose level rises), the agent
with the packaged rule packs on a temporary data dir, and a subscriber printing what a central
platform receives. The broker is `--mqtt HOST:PORT` or a private mosquitto.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from drivers.profiles import load_profiles
from edge_agent.cli.output import format_evidence
from edge_agent.config import GatewayConfig
from edge_agent.daemon.agent import Agent
from edge_agent.daemon.loading import load_everything
from edge_agent.demo.broker import free_port, private_mosquitto
from edge_agent.demo.field import DEMO_ACTIONS, DEMO_OVERRIDES, DEVICES, demo_config, scenario
from edge_agent.errors import EdgeAgentError
from edge_agent.records import AlarmState, AlarmTransition
from edge_agent.uplink.client import watch
from edge_agent.uplink.watching import topic_filter, watch_alarms
from fieldsim.modbus_device import SimulatedDevice
from fieldsim.modbus_server import serve_tcp

LEVEL_COLOUR = {1: "red", 2: "orange", 3: "yellow", 4: "blue"}


def parse_hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise EdgeAgentError(f"--mqtt wants HOST:PORT (e.g. 127.0.0.1:1883), got {text!r}")
    return host, int(port)


# ── console output and the summary ──────────────────────────────────────────
@dataclass
class Tally:
    t0: float = field(default_factory=time.monotonic)
    transitions: list[AlarmTransition] = field(default_factory=list)
    received: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)  # states of the action events received

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
    if t.evidence is not None:
        print(f"{' ' * len(tally.clock())} agent      why: "
              f"{format_evidence(t.evidence.to_dict(), t.unit)}", flush=True)  # fmt: skip


async def platform(tally: Tally, cfg: GatewayConfig, host: str, port: int) -> None:
    """What a central platform subscribed to the gateway's dialect receives."""
    async for payload in watch_alarms(cfg, host, port):
        tally.received += 1
        ts = payload.get("ts")
        if isinstance(ts, int):
            tally.latencies_ms.append(time.time() * 1000 - ts)
        value = payload.get("value")
        shown = f"{value:.4g}" if isinstance(value, float) else value
        seq = f" seq={payload['seq']}" if "seq" in payload else ""
        print(
            f"{tally.clock()} platform alarm/{payload.get('device')}/{payload.get('point')}{seq} "
            f"state={payload.get('state')} level={payload.get('level')} value={shown} "
            f"id={payload.get('id')}",
            flush=True,
        )


async def platform_actions(tally: Tally, host: str, port: int, root: str) -> None:
    """The action events the platform receives: what the gateway did about its alarms."""
    async for topic, payload in watch(host, port, f"{root}/action/#"):
        tally.actions.append(str(payload.get("state")))
        reason = payload.get("reason")
        print(
            f"{tally.clock()} platform {topic.removeprefix(root + '/')} seq={payload.get('seq')} "
            f"action={payload.get('action')} value={payload.get('value')} "
            f"state={payload.get('state')} read_back={payload.get('read_back')}"
            + (f" reason={reason}" if reason else ""),
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
    if tally.actions:
        done = tally.actions.count("done")
        print(f"action events received by the platform: {len(tally.actions)} ({done} done)")
    if lat:
        print(
            f"reading → platform latency: median {lat[len(lat) // 2]:.0f} ms, "
            f"max {lat[-1]:.0f} ms (from the reading's timestamp to receipt)"
        )
    print(f"left in the outbox at stop: {agent.depth_at_stop} messages")
    print(f"peak memory (agent + simulator + numba): {rss_mb:.0f} MB")
    print("─" * 66)


async def run_demo(
    broker: tuple[str, int] | None,
    duration_s: float,
    api: str = "edge-agent",
    report: str = "every-poll",
    report_interval_s: float = 0.0,
) -> int:
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
                mqtt = target or ("127.0.0.1", free_port())
                (work / "gateway.toml").write_text(
                    demo_config(work / "data", modbus_port, mqtt, api, report, report_interval_s)
                )
                (work / "demo-overrides.toml").write_text(DEMO_OVERRIDES)
                (work / "demo-actions.toml").write_text(DEMO_ACTIONS)
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
                    f"-t '{topic_filter(cfg)}' -v ({cfg.mqtt.api} dialect)",
                    flush=True,
                )
                async with asyncio.TaskGroup() as tg:
                    run = tg.create_task(agent.run())
                    watchers = [tg.create_task(platform(tally, cfg, *target))] if target else []
                    if target and cfg.mqtt.api == "edge-agent":  # action events on their topics
                        watchers.append(
                            tg.create_task(platform_actions(tally, *target, cfg.root_topic))
                        )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(run), timeout=duration_s)
                    agent.stop()
                    await run
                    await asyncio.sleep(0.5)  # let the platform print the last events
                    for watcher in watchers:
                        watcher.cancel()
                summary(tally, agent, target)
    return 0
