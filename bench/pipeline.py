"""The whole pipeline under load: a simulated Modbus TCP field, the agent, a broker, a
platform — each in its own process, on this machine.

    .venv/bin/python bench/pipeline.py                               # 20/100/200 × 50 at 1 s
    .venv/bin/python bench/pipeline.py --loads 10x50@1 --seconds 20  # a quick look
    .venv/bin/python bench/pipeline.py --loads 200x50@0.2 --rules threshold --outage 10

Per load `DEVICES x POINTS @ INTERVAL_S`:
- field: DEVICES pymodbus TCP servers (one port each) in a process of their own; every
  device has POINTS float32 points and a float64 `served_ms`, the wall-clock ms at which
  the device answered, so the latency from the read to the platform is exact;
- the agent: `edge-agent run` as a subprocess on a real config, one bus per device;
- a private mosquitto; a counting subscriber in its own process (this script, `subscribe`).
Reported: offered, polled and delivered points/s (steady window), skipped polls
(`overruns` in health), loss and duplicates by `seq`, the agent's CPU in cores and RSS
(median and peak, from /proc), publish latency p50/p95/p99 (served → received), alarm
latency p50/p95/p99 (with `--rules threshold`: every device dips below a limit for 5 s in
each 30 s), start-up to first delivery, and with `--outage S` the time from the broker's
return to the first delivery. One JSON line per load goes to `--json`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

RULES = """\
[[rules]]
id = "bench.level.low"
kind = "threshold"
quantity = "bench"
points = ["*/p0"]
direction = "below"
levels = [ { level = 3, limit = 0.2 } ]
hysteresis = 0.01
"""


def profile_toml(points: int) -> str:
    lines = [
        'id = "bench-float32"', 'manufacturer = "edge-agent"', 'model = "bench device"',
        'source = "bench/pipeline.py"', "default_unit = 1",
        "[[points]]", 'name = "served_ms"', 'quantity = "time"', 'unit = "ms"',
        'table = "holding"', "address = 0", 'type = "float64"',
    ]  # fmt: skip
    for i in range(points):
        lines += [
            "[[points]]", f'name = "p{i}"', 'quantity = "bench"', 'unit = ""',
            'table = "holding"', f"address = {4 + 2 * i}", 'type = "float32"',
        ]  # fmt: skip
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ── the field process ────────────────────────────────────────────────────────────────
async def field(devices: int, points: int, profiles_dir: Path, dips: bool) -> None:
    from drivers.profiles import load_profiles
    from fieldsim.modbus_device import SimulatedDevice
    from fieldsim.modbus_server import SimServer

    profile = load_profiles([profiles_dir])["bench-float32"]
    servers = []
    for d in range(devices):
        offset = 30.0 * d / max(1, devices)

        def dip(t: float, offset: float = offset) -> float:
            return 0.1 if dips and (t + offset) % 30.0 < 5.0 else 0.5

        signals: dict[str, Any] = {"served_ms": lambda _t: time.time() * 1000.0, "p0": dip}
        signals |= {f"p{i}": 0.5 + 0.001 * i for i in range(1, points)}
        server = SimServer([SimulatedDevice(1, profile, signals)])
        await server.start()
        servers.append(server)
    print(json.dumps([s.port for s in servers]), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for s in servers:
        await s.stop()


# ── the subscriber process ───────────────────────────────────────────────────────────
async def subscribe(host: str, port: int, root: str, out: Path) -> None:
    import aiomqtt

    seen: dict[int, int] = {}
    counts: dict[str, Any] = {"readings": 0, "first_ms": None, "arrivals": [], "lat": [],
                              "alarm_lat": [], "alarms": 0}  # fmt: skip
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def listen() -> None:
        while True:
            try:
                async with aiomqtt.Client(host, port, identifier=f"bench-sub-{os.getpid()}") as c:
                    await c.subscribe(f"{root}/#", qos=1)
                    async for msg in c.messages:
                        now = time.time() * 1000.0
                        topic = msg.topic.value
                        if topic.endswith("/health"):
                            counts["health"] = json.loads(bytes(msg.payload))  # type: ignore[arg-type]
                            counts["health_ms"] = now
                            continue
                        if "/telemetry/" not in topic and "/alarm/" not in topic:
                            continue
                        body = json.loads(bytes(msg.payload))  # type: ignore[arg-type]
                        seen[body["seq"]] = seen.get(body["seq"], 0) + 1
                        if "/alarm/" in topic:
                            counts["alarms"] += 1
                            if body.get("state") == "raised":
                                counts["alarm_lat"].append((now, now - body["ts"]))
                            continue
                        n = 0
                        for r in body["readings"]:
                            if r["point"] == "served_ms":
                                if r["value"] is not None:
                                    counts["lat"].append((now, now - r["value"]))
                            else:
                                n += 1
                        counts["readings"] += n
                        counts["arrivals"].append((now, n))
                        counts["first_ms"] = counts["first_ms"] or now
            except aiomqtt.MqttError:
                await asyncio.sleep(0.05)  # the broker is away (an outage): try again

    task = asyncio.create_task(listen())
    await stop.wait()
    task.cancel()
    seqs = sorted(seen)
    counts["duplicates"] = sum(v - 1 for v in seen.values())
    counts["missing"] = (seqs[-1] - seqs[0] + 1 - len(seqs)) if seqs else 0
    await asyncio.to_thread(out.write_text, json.dumps(counts))


# ── one load ─────────────────────────────────────────────────────────────────────────
def proc_sample(pid: int) -> tuple[float, float]:
    """(RSS MB, CPU seconds) of a process from /proc."""
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return rss_kb / 1024, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return math.nan
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))]


def start_broker(work: Path, port: int) -> subprocess.Popen[bytes]:
    conf = work / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
    exe = "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else "mosquitto"
    proc = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.DEVNULL)
    for _ in range(100):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
            return proc
        time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


def run_load(
    devices: int, points: int, interval: float, args: argparse.Namespace
) -> dict[str, Any]:
    me = [sys.executable, str(Path(__file__).resolve())]
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        work = Path(tmp)
        (work / "profiles").mkdir()
        (work / "profiles" / "bench.toml").write_text(profile_toml(points))
        (work / "rules.toml").write_text(RULES if args.rules == "threshold" else "")
        mqtt_port = free_port()
        broker = start_broker(work, mqtt_port)
        field_proc = subprocess.Popen(
            [*me, "field", str(devices), str(points), str(work / "profiles"),
             "1" if args.rules == "threshold" else "0"],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        assert field_proc.stdout is not None
        ports = json.loads(field_proc.stdout.readline())
        root = "bench/site/gw-bench"
        lines = [
            "[gateway]", 'id = "gw-bench"', 'site = "site"', f'data_dir = "{work / "data"}"',
            'rules = ["rules.toml"]', 'profiles = ["profiles/"]',
            "[mqtt]", 'host = "127.0.0.1"', f"port = {mqtt_port}", 'topic_prefix = "bench"',
            "health_interval_s = 5",
        ]  # fmt: skip
        for d, port in enumerate(ports):
            lines += ["[[buses]]", f'name = "b{d}"', 'kind = "modbus-tcp"',
                      'host = "127.0.0.1"', f"port = {port}"]  # fmt: skip
            lines += ["[[devices]]", f'name = "dev-{d}"', f'bus = "b{d}"', "unit = 1",
                      'profile = "bench-float32"', f"poll_interval_s = {interval}"]  # fmt: skip
        (work / "gateway.toml").write_text("\n".join(lines) + "\n")
        sub_out = work / "sub.json"
        sub = subprocess.Popen([*me, "subscribe", "127.0.0.1", str(mqtt_port), root, str(sub_out)])
        time.sleep(1.0)
        t_start = time.time() * 1000.0
        agent = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "--log-level", "warning", "run",
             "-c", str(work / "gateway.toml")],
            cwd=ROOT,
        )  # fmt: skip
        rss: list[float] = []
        cpu: list[tuple[float, float]] = []
        outage: dict[str, float] = {}
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.seconds:
            time.sleep(1.0)
            mb, c = proc_sample(agent.pid)
            rss.append(mb)
            cpu.append((time.monotonic(), c))
            if args.outage and not outage and time.monotonic() - t0 > args.seconds / 2:
                outage["down_ms"] = time.time() * 1000.0
                broker.terminate()
                broker.wait()
                time.sleep(args.outage)
                outage["back_ms"] = time.time() * 1000.0
                broker = start_broker(work, mqtt_port)
        stop_ms = time.time() * 1000.0
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=60)
        time.sleep(1.0)
        sub.send_signal(signal.SIGTERM)
        sub.wait(timeout=30)
        field_proc.send_signal(signal.SIGTERM)
        field_proc.wait(timeout=30)
        broker.terminate()
        broker.wait()
        got = json.loads(sub_out.read_text())
    down = outage.get("down_ms", math.inf)

    def live(pairs: list[list[float]]) -> list[float]:
        return [lat for at, lat in pairs if at < down]

    steady = cpu[len(cpu) // 3 :]
    cores = (
        (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0]) if len(steady) > 1 else 0
    )
    arrivals = got["arrivals"]
    first = got["first_ms"] or math.nan
    # Steady window: from a third of the run after the first delivery, to the stop.
    w0 = first + (stop_ms - first) / 3
    window = [n for ts, n in arrivals if w0 <= ts < stop_ms]
    span_s = (stop_ms - w0) / 1000
    health = got.get("health") or {"devices": {}}
    polls = sum(d.get("polls", 0) for d in health["devices"].values())
    up_s = float(health.get("uptime_s") or math.nan)
    result = {
        "load": f"{devices}x{points}@{interval}",
        "offered_points_s": devices * points / interval,
        # From the agent's last health message: every poll since it started.
        "polled_points_s": round(polls * points / up_s, 1),
        "skipped_polls": sum(d.get("overruns", 0) for d in health["devices"].values()),
        "delivered_points_s": round(sum(window) / span_s, 1) if span_s > 0 else math.nan,
        "readings_received": got["readings"],
        "duplicates": got["duplicates"],
        "missing_seq": got["missing"],
        "cpu_cores": round(cores, 3),
        "rss_mb_median": round(statistics.median(rss[len(rss) // 3 :] or rss), 1),
        "rss_mb_peak": round(max(rss), 1),
        # Latency of live data: what arrived before an outage (a backlog's age is not latency).
        "latency_ms": [round(pct(live(got["lat"]), q), 1) for q in (0.5, 0.95, 0.99)],
        "alarm_latency_ms": [round(pct(live(got["alarm_lat"]), q), 1) for q in (0.5, 0.95, 0.99)],
        "alarms": got["alarms"],
        "start_to_first_delivery_s": round((first - t_start) / 1000, 2),
    }
    if outage:
        after = [ts for ts, _ in arrivals if ts > outage["back_ms"]]
        result["broker_back_to_delivery_s"] = (
            round((min(after) - outage["back_ms"]) / 1000, 2) if after else None
        )
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--loads", default="20x50@1,100x50@1,200x50@1")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rules", choices=["none", "threshold"], default="none")
    ap.add_argument("--outage", type=float, default=0.0, help="broker down this long, mid-run")
    ap.add_argument("--json", type=Path, help="append one JSON line per load")
    args = ap.parse_args()
    for load in args.loads.split(","):
        shape, _, interval = load.partition("@")
        devices, _, points = shape.partition("x")
        r = run_load(int(devices), int(points), float(interval or 1), args)
        print(json.dumps(r), flush=True)
        if args.json:
            with args.json.open("a") as f:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "field":
        _, _, n, p, folder, dips = sys.argv
        asyncio.run(field(int(n), int(p), Path(folder), dips == "1"))
    elif len(sys.argv) > 1 and sys.argv[1] == "subscribe":
        _, _, host, port, root, out = sys.argv
        asyncio.run(subscribe(host, int(port), root, Path(out)))
    else:
        main()
