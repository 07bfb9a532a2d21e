"""Reporting benchmark: messages and bytes per hour for the demo's field, per dialect and
telemetry reporting mode.

Workload: the demo's field (`edge-agent demo`: four simulated Modbus TCP devices, one
point each, polled every second, the scenario's burst, gas leak and storm within its
first two minutes), the agent with the packaged rules, a private mosquitto, and a
subscriber on `#` that counts every message the gateway publishes and its bytes
(topic + payload, the application's share; MQTT framing adds 4-7 bytes a PUBLISH and
4 a PUBACK). Each (dialect, mode) runs `--duration` seconds from the scenario's start;
figures are scaled to one hour. The run covers the eventful part of the scenario, so
on-change figures are those of a busy hour; a quiet hour sends less.

Modes: every-poll; on-change with the demo's deadbands (pressure 0.005 MPa, methane
1 %LEL, level 0.02 m); and each of those with `report_interval_s = 10`.

    .venv/bin/python bench/reporting.py                       # all dialects, 90 s each
    .venv/bin/python bench/reporting.py --api sparkplug-b --duration 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers.profiles import load_profiles  # noqa: E402
from edge_agent.daemon.agent import Agent  # noqa: E402
from edge_agent.daemon.loading import load_everything  # noqa: E402
from edge_agent.demo.broker import private_mosquitto  # noqa: E402
from edge_agent.demo.field import DEMO_OVERRIDES, DEVICES, demo_config, scenario  # noqa: E402
from edge_agent.uplink.client import watch_raw  # noqa: E402
from edge_agent.uplink.watching import topic_filter  # noqa: E402
from fieldsim.modbus_device import SimulatedDevice  # noqa: E402
from fieldsim.modbus_server import serve_tcp  # noqa: E402

MODES = [("every-poll", 0.0), ("on-change", 0.0), ("every-poll", 10.0), ("on-change", 10.0)]
APIS = ["edge-agent", "sparkplug-b", "thingsboard"]


@dataclass
class Count:
    messages: int = 0
    bytes: int = 0
    telemetry_messages: int = 0
    telemetry_bytes: int = 0
    topics: dict[str, int] = field(default_factory=dict)


def is_telemetry(api: str, topic: str) -> bool:
    if api == "sparkplug-b":
        return "/DDATA/" in topic
    if api == "thingsboard":
        return topic == "v1/gateway/telemetry"
    return "/telemetry/" in topic


async def count(api: str, host: str, port: int, filt: str, out: Count) -> None:
    async for topic, raw in watch_raw(host, port, filt):
        size = len(topic.encode()) + len(raw)
        out.messages += 1
        out.bytes += size
        if is_telemetry(api, topic):
            out.telemetry_messages += 1
            out.telemetry_bytes += size


async def one_run(api: str, report: str, interval_s: float, duration_s: float) -> dict[str, object]:
    signals = scenario(random.Random(7))
    profiles = load_profiles([])
    with tempfile.TemporaryDirectory(prefix="bench-reporting-") as tmp:
        work = Path(tmp)
        with private_mosquitto(work) as target:
            assert target is not None, "mosquitto is needed"
            devices = [
                SimulatedDevice(unit, profiles[profile], {point: signals[name]})
                for name, unit, profile, point, _ in DEVICES
            ]
            async with serve_tcp(devices, host="127.0.0.1", port=0) as modbus_port:
                cfg_text = demo_config(work / "data", modbus_port, target, api, report, interval_s)
                (work / "gateway.toml").write_text(cfg_text)
                (work / "demo-overrides.toml").write_text(DEMO_OVERRIDES)
                cfg, profs, ruleset = load_everything(work / "gateway.toml")
                agent = Agent(cfg, profs, ruleset, config_path=work / "gateway.toml")
                counted = Count()
                counter = asyncio.create_task(count(api, *target, topic_filter(cfg), counted))
                await asyncio.sleep(0.5)
                run = asyncio.create_task(agent.run())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(run), timeout=duration_s)
                agent.stop()
                await run
                await asyncio.sleep(0.5)
                counter.cancel()
                polled = agent.reporter.counters
    per_hour = 3600.0 / duration_s
    return {
        "api": api,
        "report": report,
        "report_interval_s": interval_s,
        "duration_s": duration_s,
        "readings_polled": polled["polled"],
        "readings_reported": polled["reported"],
        "messages_per_hour": round(counted.messages * per_hour),
        "bytes_per_hour": round(counted.bytes * per_hour),
        "telemetry_messages_per_hour": round(counted.telemetry_messages * per_hour),
        "telemetry_bytes_per_hour": round(counted.telemetry_bytes * per_hour),
    }


def table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| api | report | interval | readings sent / polled | messages/h | kB/h | "
        "telemetry msgs/h | telemetry kB/h |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['api']} | {r['report']} | {r['report_interval_s']:g} s | "
            f"{r['readings_reported']} / {r['readings_polled']} | {r['messages_per_hour']:,} | "
            f"{int(r['bytes_per_hour']) / 1000:,.0f} | {r['telemetry_messages_per_hour']:,} | "  # type: ignore[call-overload]
            f"{int(r['telemetry_bytes_per_hour']) / 1000:,.0f} |"  # type: ignore[call-overload]
        )
    return "\n".join(lines)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--api", action="append", choices=APIS, help="default: all three")
    ap.add_argument("--duration", type=float, default=90.0, help="seconds per run")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    rows = []
    for api in args.api or APIS:
        for report, interval in MODES:
            row = await one_run(api, report, interval, args.duration)
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(table(rows))


if __name__ == "__main__":
    asyncio.run(main())
