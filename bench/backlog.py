"""Backlog benchmark: buffer an outage, then drain it into a local mosquitto.

Workload: `--devices` devices × `--points` points polled once a second for
`--minutes` of outage (default 100 × 10 × 60 min = 1,000 points/s, 3.6 M readings).

1. Write: every poll goes through `Store.add_poll` with one commit per simulated
   second (the store's batching), WAL and synchronous=FULL, as in the agent.
   Reported: readings/s written, and the buffer's size.
2. Drain: an `Uplink` connects to a private mosquitto and drains the outbox (QoS 1,
   `--inflight` in flight, a row deleted after its PUBACK, backlog joined into
   messages of at most `--message-kb`). A subscriber in another process counts the
   readings it receives; the drain ends when it has all of them.
   Reported: drain time, messages, readings/s, and that nothing is missing.

    .venv/bin/python bench/backlog.py                # the issue's figure
    .venv/bin/python bench/backlog.py --minutes 5    # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_agent.config import GatewayConfig  # noqa: E402
from edge_agent.records import DevicePoll, Reading  # noqa: E402
from edge_agent.store import Store  # noqa: E402
from edge_agent.uplink.drain import Uplink  # noqa: E402
from edge_agent.uplink.payloads import STORED_READINGS  # noqa: E402

SUBSCRIBER = r"""
import asyncio, json, sys, time
import aiomqtt, msgpack

async def main(port: int, topic: str, expected: int, fmt: str) -> None:
    got = 0
    seqs = set()
    async with aiomqtt.Client("127.0.0.1", port, max_queued_incoming_messages=0) as c:
        await c.subscribe(topic, qos=1)
        print("ready", flush=True)
        first = None
        async for m in c.messages:
            if first is None:
                first = time.monotonic()
            body = json.loads(m.payload) if fmt == "json" else msgpack.unpackb(m.payload)
            seqs.add(body["seq"])
            got += len(body["readings"])
            if got >= expected:
                break
    print(json.dumps({"readings": got, "messages": len(seqs), "min_seq": min(seqs),
                      "max_seq": max(seqs)}), flush=True)

asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_broker(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 1000000\nmax_inflight_messages 1000\n"
    )
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen(
        [exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("mosquitto did not start")


def write_outage(
    store: Store, devices: int, points: int, seconds: int
) -> tuple[float, list[float]]:
    """Buffer `seconds` of polls; returns the wall time and each commit's duration
    (a commit blocks the event loop in the agent, so its length matters)."""
    t0_ms = 1_700_000_000_000
    names = [f"p{i}" for i in range(points)]
    commits: list[float] = []
    start = time.perf_counter()
    for s in range(seconds):
        ts = t0_ms + s * 1000
        for d in range(devices):
            dev = f"dev-{d:03d}"
            readings = tuple(
                Reading(dev, n, ts, float(s) + i / 100, "good") for i, n in enumerate(names)
            )
            store.add_poll(DevicePoll(dev, ts, readings, ok=True), "gw-bench")
        t = time.perf_counter()
        store.flush()  # one commit per (simulated) second, as the store batches in the agent
        commits.append(time.perf_counter() - t)
    return time.perf_counter() - start, commits


async def drain(
    store: Store, port: int, expected: int, inflight: int, payload: str
) -> dict[str, float]:
    cfg = GatewayConfig.model_validate(
        {
            "gateway": {"id": "gw-bench", "site": "bench"},
            "mqtt": {
                "port": port,
                "topic_prefix": "bench",
                "max_inflight": inflight,
                "payload": payload,
            },
        }
    )
    sub = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SUBSCRIBER,
        str(port),
        "bench/bench/gw-bench/telemetry/+",
        str(expected),
        payload,
        stdout=asyncio.subprocess.PIPE,
    )
    assert sub.stdout is not None
    assert (await sub.stdout.readline()).strip() == b"ready"
    uplink = Uplink(cfg, store)
    start = time.perf_counter()
    task = asyncio.create_task(uplink.run())
    line = await asyncio.wait_for(sub.stdout.readline(), timeout=3600)
    elapsed = time.perf_counter() - start
    while store.depth():  # noqa: ASYNC110 (the last PUBACKs and deletes)
        await asyncio.sleep(0.05)
    await uplink.stop()
    await task
    await sub.wait()
    result = json.loads(line)
    result["drain_s"] = elapsed
    result["published"] = uplink.counters["published"]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--points", type=int, default=10)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--inflight", type=int, default=20)
    ap.add_argument("--message-kb", type=int, default=128)
    ap.add_argument("--payload", choices=["json", "msgpack"], default="json")
    args = ap.parse_args()
    seconds = int(args.minutes * 60)
    expected = args.devices * args.points * seconds

    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        folder = Path(tmp)
        store = Store.open(
            folder / "buffer.db", codec=STORED_READINGS, max_message_bytes=args.message_kb * 1024
        )
        write_s, commits = write_outage(store, args.devices, args.points, seconds)
        commits.sort()
        size = os.path.getsize(folder / "buffer.db") + os.path.getsize(folder / "buffer.db-wal")
        print(
            f"write: {expected:,} readings in {write_s:.1f} s = {expected / write_s:,.0f} "
            f"readings/s ({args.devices * seconds / write_s:,.0f} polls/s); "
            f"buffer {size / 1e6:.0f} MB = {size / expected:.0f} B/reading; "
            f"one second's commit: median {commits[len(commits) // 2] * 1e3:.1f} ms, "
            f"p99 {commits[int(len(commits) * 0.99)] * 1e3:.1f} ms, max {commits[-1] * 1e3:.1f} ms",
            flush=True,
        )
        broker, port = start_broker(folder)
        try:
            r = asyncio.run(drain(store, port, expected, args.inflight, args.payload))
        finally:
            broker.terminate()
            broker.wait()
            store.close()
    ok = r["readings"] == expected and r["max_seq"] - r["min_seq"] + 1 == r["messages"]
    print(
        f"drain: {r['readings']:,.0f} readings in {r['messages']:,.0f} messages "
        f"in {r['drain_s']:.1f} s = {r['readings'] / r['drain_s']:,.0f} readings/s; "
        f"seq {r['min_seq']:.0f}..{r['max_seq']:.0f} without gaps: {ok}",
        flush=True,
    )
    if not ok:
        raise SystemExit("the drain lost or duplicated messages")


if __name__ == "__main__":
    main()
