"""Soak: does the agent's footprint level off? RSS, open files and database size over time.

    .venv/bin/python bench/soak.py [--devices 30] [--minutes 60] [--sample-s 60] [--csv FILE]

The workload of bench/agent_footprint.py, run long: N simulated pressure transmitters
(one pymodbus TCP server, units 1..N) polled every second, a private mosquitto with a
subscriber that takes everything, `edge-agent run` as a subprocess with one threshold
rule; every transmitter dips below the limit for 5 s in each 20 s, staggered, so alarms
are raised and cleared all the time. Every `--sample-s` it prints (and writes to
`--csv`) the agent's RSS (VmRSS), its open file descriptors (/proc/PID/fd), the size of
buffer.db and of its -wal, the outbox depth and the messages received. At the end:
the least-squares slope of each over the last half hour (or the last half of a shorter
run), per hour.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

# The workload of agent_footprint.py (this folder is on sys.path when a script runs).
from agent_footprint import RULES, dip

from drivers.profiles import load_profiles
from edge_agent.demo.broker import private_mosquitto
from edge_agent.uplink.client import watch
from fieldsim.modbus_device import SimulatedDevice
from fieldsim.modbus_server import serve_tcp

COLUMNS = ["minute", "rss_mb", "open_files", "db_mb", "wal_mb", "outbox", "received"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def file_mb(path: Path) -> float:
    return path.stat().st_size / 1e6 if path.exists() else 0.0


def outbox_depth(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
    except sqlite3.Error:
        return -1


def slope_per_hour(xs_min: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys against minutes, per hour."""
    n = len(xs_min)
    if n < 2:
        return float("nan")
    mx, my = sum(xs_min) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs_min)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs_min, ys, strict=True))
    return 60 * sxy / sxx if sxx else float("nan")


def gateway_toml(work: Path, broker: tuple[str, int], port: int, n: int) -> str:
    lines = [
        "[gateway]", 'id = "gw-soak"', 'site = "bench"', f'data_dir = "{work / "data"}"',
        'rules = ["rules.toml"]', "[mqtt]", f'host = "{broker[0]}"', f"port = {broker[1]}",
        "[[buses]]", 'name = "sim"', 'kind = "modbus-tcp"', 'host = "127.0.0.1"',
        f"port = {port}",
    ]  # fmt: skip
    for u in range(1, n + 1):
        lines += [
            "[[devices]]", f'name = "pt-{u}"', 'bus = "sim"', f"unit = {u}",
            'profile = "generic-pressure-float32"', "poll_interval_s = 1.0",
        ]  # fmt: skip
    return "\n".join(lines) + "\n"


async def main(n: int, minutes: float, sample_s: float, out: Path | None) -> None:
    profile = load_profiles([])["generic-pressure-float32"]
    devices = [
        SimulatedDevice(u, profile, {"pressure": dip(u * 20.0 / n)})  # type: ignore[dict-item]
        for u in range(1, n + 1)
    ]
    rows: list[list[float]] = []
    writer = csv.writer(out.open("w", newline="")) if out else None
    if writer:
        writer.writerow(COLUMNS)
    print(" ".join(f"{c:>10}" for c in COLUMNS), flush=True)
    with tempfile.TemporaryDirectory() as tmp, private_mosquitto(Path(tmp)) as broker:
        assert broker is not None, "mosquitto is needed"
        work = Path(tmp)
        db = work / "data" / "buffer.db"
        received = [0]
        async with serve_tcp(devices) as port:
            (work / "rules.toml").write_text(RULES)
            (work / "gateway.toml").write_text(gateway_toml(work, broker, port, n))

            async def subscriber() -> None:
                async for _topic, _payload in watch(*broker, "lifeline/bench/gw-soak/#"):
                    received[0] += 1

            sub = asyncio.create_task(subscriber())
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "edge_agent", "--log-level", "warning", "run",
                "-c", str(work / "gateway.toml"),
            )  # fmt: skip
            t0 = time.monotonic()
            try:
                k = 0
                while (k + 1) * sample_s <= minutes * 60:
                    k += 1
                    await asyncio.sleep(max(0.0, t0 + k * sample_s - time.monotonic()))
                    if proc.returncode is not None:
                        raise SystemExit(f"the agent stopped: exit code {proc.returncode}")
                    row = [
                        round(k * sample_s / 60, 2), round(rss_mb(proc.pid), 2),
                        open_files(proc.pid), round(file_mb(db), 3),
                        round(file_mb(db.with_name("buffer.db-wal")), 3), outbox_depth(db),
                        received[0],
                    ]  # fmt: skip
                    rows.append(row)
                    print(" ".join(f"{v:>10}" for v in row), flush=True)
                    if writer:
                        writer.writerow(row)
            finally:
                proc.terminate()
                await proc.wait()
                sub.cancel()
    half = [r for r in rows if r[0] > rows[-1][0] - min(30.0, rows[-1][0] / 2)]
    xs = [r[0] for r in half]
    print(f"\n{n} devices, {n} readings/s, {rows[-1][0]:g} min; least-squares slope over "
          f"minutes {xs[0]:g}-{xs[-1]:g}, per hour:")  # fmt: skip
    for i, name in ((1, "RSS MB"), (2, "open files"), (3, "buffer.db MB"), (4, "-wal MB"),
                    (5, "outbox rows")):  # fmt: skip
        ys = [float(r[i]) for r in half]
        print(f"  {name:>13}: {slope_per_hour(xs, ys):+.2f}/h  (first {rows[0][i]}, "
              f"last {rows[-1][i]}, max {max(float(r[i]) for r in rows)})")  # fmt: skip


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--devices", type=int, default=30)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--sample-s", type=float, default=60)
    ap.add_argument("--csv", type=Path, default=None)
    a = ap.parse_args()
    asyncio.run(main(a.devices, a.minutes, a.sample_s, a.csv))
