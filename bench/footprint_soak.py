"""Soak: the agent's RSS, open files and database size over a long run, and their slopes.

    .venv/bin/python bench/footprint_soak.py [--devices 30] [--seconds 3600] [--sample-s 60]

The workload of `agent_footprint.py` (N simulated pressure transmitters on one
pymodbus TCP server, a private mosquitto, one threshold rule that every transmitter
crosses for 5 s in each 20 s, so alarms are raised and cleared all the time), for a
long run. Every `--sample-s` it prints the agent's RSS (MB), its open file
descriptors and the size of buffer.db with its WAL (MB); at the end, the least-squares
slope of each over the last half of the run, per hour: a leak shows as a slope that
stays up when the run gets longer, a warm-up as one that falls towards zero.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def db_mb(data: Path) -> float:
    files = [data / "buffer.db", data / "buffer.db-wal"]
    return sum(f.stat().st_size for f in files if f.exists()) / 1e6


def slope_per_h(ts: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over ts (seconds), per hour."""
    n = len(ts)
    if n < 2:
        return float("nan")
    mt, my = sum(ts) / n, sum(ys) / n
    var = sum((t - mt) ** 2 for t in ts)
    return 3600 * sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / var


def config(work: Path, broker: tuple[str, int], port: int, n: int, interval: float) -> str:
    lines = [
        "[gateway]", 'id = "gw-soak"', 'site = "bench"', f'data_dir = "{work / "data"}"',
        'rules = ["rules.toml"]', "[mqtt]", f'host = "{broker[0]}"', f"port = {broker[1]}",
        "[[buses]]", 'name = "sim"', 'kind = "modbus-tcp"', 'host = "127.0.0.1"',
        f"port = {port}",
    ]  # fmt: skip
    for u in range(1, n + 1):
        lines += [
            "[[devices]]", f'name = "pt-{u}"', 'bus = "sim"', f"unit = {u}",
            'profile = "generic-pressure-float32"', f"poll_interval_s = {interval}",
        ]  # fmt: skip
    return "\n".join(lines) + "\n"


async def main(n: int, seconds: float, sample_s: float, interval: float) -> None:
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
            (work / "gateway.toml").write_text(config(work, broker, port, n, interval))
            received = [0]

            async def subscriber() -> None:
                async for _topic, _payload in watch(*broker, "lifeline/bench/gw-soak/#"):
                    received[0] += 1

            sub = asyncio.create_task(subscriber())
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "edge_agent", "--log-level", "warning", "run",
                "-c", str(work / "gateway.toml"),
            )  # fmt: skip
            t0 = time.monotonic()
            rows: list[tuple[float, float, int, float]] = []
            print(f"devices {n}, poll interval {interval} s, sample every {sample_s} s")
            print(f"{'t_s':>6} {'rss_mb':>8} {'open_fds':>8} {'db_mb':>8} {'received':>9}")
            while (t := time.monotonic() - t0) < seconds:
                await asyncio.sleep(min(sample_s, max(0.0, seconds - t)))
                t = time.monotonic() - t0
                row = (t, rss_mb(proc.pid), open_files(proc.pid), db_mb(work / "data"))
                rows.append(row)
                print(f"{t:6.0f} {row[1]:8.1f} {row[2]:8d} {row[3]:8.2f} {received[0]:9d}",
                      flush=True)  # fmt: skip
            proc.terminate()
            await proc.wait()
            sub.cancel()
    half = [r for r in rows if r[0] >= seconds / 2]
    ts = [r[0] for r in half]
    print(f"slopes over the last half ({len(half)} samples, per hour):")
    print(f"  RSS {slope_per_h(ts, [r[1] for r in half]):+.2f} MB/h, "
          f"open files {slope_per_h(ts, [float(r[2]) for r in half]):+.2f} /h, "
          f"buffer.db {slope_per_h(ts, [r[3] for r in half]):+.2f} MB/h")  # fmt: skip
    first = [r for r in rows if r[0] < seconds / 2]
    if len(first) >= 2:
        print(f"  (first half: RSS {slope_per_h([r[0] for r in first], [r[1] for r in first]):+.2f}"
              " MB/h)")  # fmt: skip


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--devices", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=3600)
    ap.add_argument("--sample-s", type=float, default=60)
    ap.add_argument("--interval", type=float, default=1.0)
    a = ap.parse_args()
    asyncio.run(main(a.devices, a.seconds, a.sample_s, a.interval))
