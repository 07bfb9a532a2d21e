"""Agent footprint and alarm latency on simulated Modbus TCP devices.

    .venv/bin/python bench/agent_footprint.py [--devices 30] [--seconds 60] [--interval 1]

Starts N simulated pressure transmitters (one pymodbus TCP server, units 1..N),
a private mosquitto, and `edge-agent run` as a subprocess with one threshold
rule (no delays). Every transmitter dips below the limit for 5 s in each 20 s,
staggered. Reports, from a subscriber: alarm latency (payload `ts`, when the
register was read, to receipt), and from /proc: the agent's RSS and CPU use.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from drivers.profiles import load_profiles
from edge_agent.demo.broker import private_mosquitto
from edge_agent.uplink.client import watch
from fieldsim.modbus_device import SimulatedDevice
from fieldsim.modbus_server import serve_tcp

RULES = """\
[[rules]]
id = "bench.pressure.low"
kind = "threshold"
quantity = "pressure"
direction = "below"
levels = [ { level = 3, limit = 0.20 } ]
hysteresis = 0.01
"""


def dip(offset_s: float) -> object:
    def signal(t: float) -> float:
        return 0.10 if (t + offset_s) % 20.0 < 5.0 else 0.35

    return signal


def proc_stats(pid: int) -> tuple[float, float]:
    """(RSS in MB, user+system CPU seconds) of a process."""
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return rss_kb / 1024, ticks / 100.0


async def main(n: int, seconds: float, interval: float) -> None:
    profile = load_profiles([])["generic-pressure-float32"]
    devices = [
        SimulatedDevice(u, profile, {"pressure": dip(u * 20.0 / n)})  # type: ignore[dict-item]
        for u in range(1, n + 1)
    ]
    with tempfile.TemporaryDirectory() as tmp, private_mosquitto(Path(tmp)) as broker:
        assert broker is not None, "mosquitto is needed"
        work = Path(tmp)
        async with serve_tcp(devices) as port:
            (work / "rules.toml").write_text(RULES)
            lines = [
                "[gateway]", 'id = "gw-bench"', 'site = "bench"', f'data_dir = "{work / "data"}"',
                'rules = ["rules.toml"]', "[mqtt]", f'host = "{broker[0]}"', f"port = {broker[1]}",
                "[[buses]]", 'name = "sim"', 'kind = "modbus-tcp"', 'host = "127.0.0.1"',
                f"port = {port}",
            ]  # fmt: skip
            for u in range(1, n + 1):
                lines += [
                    "[[devices]]", f'name = "pt-{u}"', 'bus = "sim"', f"unit = {u}",
                    'profile = "generic-pressure-float32"', f"poll_interval_s = {interval}",
                ]  # fmt: skip
            (work / "gateway.toml").write_text("\n".join(lines) + "\n")
            latencies: list[float] = []
            first_telemetry: list[float] = []

            async def subscriber() -> None:
                async for topic, payload in watch(*broker, "lifeline/bench/gw-bench/#"):
                    now = time.time() * 1000
                    if "/alarm/" in topic and isinstance(payload, dict):
                        latencies.append(now - payload["ts"])
                    elif "/telemetry/" in topic and not first_telemetry:
                        first_telemetry.append(time.monotonic())

            sub = asyncio.create_task(subscriber())
            await asyncio.sleep(0.5)
            t0 = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "edge_agent", "--log-level", "warning", "run",
                "-c", str(work / "gateway.toml"),
            )  # fmt: skip
            rss: list[float] = []
            cpu_start: float | None = None
            t_cpu = 0.0
            while time.monotonic() - t0 < seconds:
                await asyncio.sleep(1.0)
                mb, cpu = proc_stats(proc.pid)
                rss.append(mb)
                if first_telemetry and cpu_start is None:
                    cpu_start, t_cpu = cpu, time.monotonic()
            mb, cpu_end = proc_stats(proc.pid)
            proc.terminate()
            await proc.wait()
            sub.cancel()
    steady = rss[len(rss) // 3 :] or rss
    cpu_pct = 100 * (cpu_end - (cpu_start or 0)) / max(1e-9, time.monotonic() - t_cpu)
    lat = sorted(latencies)
    print(f"devices: {n}, poll interval {interval} s, {n / interval:.0f} readings/s, {seconds} s")
    print(f"start → first telemetry at the subscriber: {first_telemetry[0] - t0:.2f} s")
    print(f"alarm events: {len(lat)}")
    if lat:
        p95 = lat[int(0.95 * (len(lat) - 1))]
        print(f"alarm latency (register read → subscriber): median {statistics.median(lat):.1f}"
              f" ms, p95 {p95:.1f} ms, max {lat[-1]:.1f} ms")  # fmt: skip
    print(f"agent RSS: median {statistics.median(steady):.0f} MB, max {max(rss):.0f} MB")
    print(f"agent CPU (steady state): {cpu_pct:.1f} % of one core")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--devices", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--interval", type=float, default=1.0)
    a = ap.parse_args()
    asyncio.run(main(a.devices, a.seconds, a.interval))
