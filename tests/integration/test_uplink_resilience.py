"""The uplink under abuse: SIGKILL during a burst, bad commands while delivering,
health reports, a tiny buffer during an outage."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path

import aiomqtt
import pytest

from edge_agent.store import Store
from edge_agent.uplink.drain import Uplink
from edge_agent.uplink.payloads import STORED_READINGS
from tests.conftest import Broker
from tests.integration.mqtt_helpers import (
    Collector,
    alarm,
    gateway_config,
    poll,
    unique_prefix,
)

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent


async def start_proc(cfg_file: Path, db: Path, feed: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "uplink_proc.py"),
        str(cfg_file),
        str(db),
        "--feed",
        str(feed),
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


async def test_sigkill_during_a_burst_loses_nothing_and_duplicates_keep_their_seq(
    broker: Broker, tmp_path: Path
) -> None:
    prefix = unique_prefix()
    cfg = gateway_config(broker.port, prefix, tmp_path, max_inflight=10)
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(cfg.model_dump_json())
    db = tmp_path / "buffer.db"
    async with Collector(broker.port, f"{prefix}/site-a/gw-test/#") as sub:
        proc = await start_proc(cfg_file, db, feed=3000)
        await sub.wait_for(lambda: len(sub.seqs()) >= 200, 30)
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 5)
        before_restart = len(sub.seqs())
        # The restarted agent resends whatever was not acknowledged.
        proc = await start_proc(cfg_file, db, feed=0)
        try:
            conn = sqlite3.connect(db)

            def drained() -> bool:
                (n,) = conn.execute("SELECT count(*) FROM outbox").fetchone()
                return bool(n == 0)

            await sub.wait_for(drained, 30)
            (next_seq,) = conn.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
            await sub.wait_for(lambda: set(sub.seqs()) >= set(range(1, next_seq)), 15)
            committed_alarms = {r[0] for r in conn.execute("SELECT alarm_id FROM alarms")}
            committed_values = {r[0] for r in conn.execute("SELECT value FROM readings")}
            conn.close()
        finally:
            proc.kill()
            await asyncio.wait_for(proc.wait(), 5)

    assert before_restart >= 200
    assert len(committed_alarms) < 300, "the kill interrupted the burst"
    assert set(sub.seqs()) == set(range(1, next_seq))
    by_seq: dict[int, bytes] = {}
    for m in sub.messages:
        if "/alarm/" in m.topic or "/telemetry/" in m.topic:
            assert by_seq.setdefault(m.payload["seq"], m.raw) == m.raw
    got_alarms = {m.payload["id"] for m in sub.messages if "/alarm/" in m.topic}
    assert got_alarms == committed_alarms
    got_values = {
        r["value"] for m in sub.messages if "/telemetry/" in m.topic for r in m.payload["readings"]
    }
    assert got_values == committed_values
    assert len(committed_alarms) >= 10  # every tenth poll raised one


async def test_bad_commands_are_answered_while_delivery_goes_on(
    broker: Broker, tmp_path: Path
) -> None:
    prefix = unique_prefix()
    cfg = gateway_config(broker.port, prefix, tmp_path)
    root = f"{prefix}/site-a/gw-test"
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    uplink = Uplink(cfg, store)
    task = asyncio.create_task(uplink.run())
    bad: list[tuple[str, bytes]] = [
        ("ping", b"\x00\xff garbage"),
        ("ping", b'{"id": 5}'),
        ("nope", b'{"id": "c-2"}'),
        ("mode", b'{"id": "c-3", "args": {"mode": "flood-season"}}'),
        ("ping", b'{"id": "c-4", "pad": "' + b"x" * 10_000 + b'"}'),
        ("read", b'{"id": "c-5", "args": {"point": 3}}'),
    ]
    async with Collector(broker.port, f"{root}/#") as sub:
        await uplink.connected.wait()
        async with aiomqtt.Client("127.0.0.1", broker.port) as platform:
            for name, payload in bad:
                await platform.publish(f"{root}/cmd/{name}", payload, qos=1)
            store.add_alarms([alarm("a-1")], "gw-test")
            await platform.publish(f"{root}/cmd/ping", b'{"id": "c-6", "args": {}}', qos=1)
            await platform.publish(f"{root}/cmd/diag", b'{"id": "c-7"}', qos=1)
        await sub.wait_for(lambda: len(sub.on("/reply")) == len(bad) + 2)
        await sub.wait_for(lambda: len(sub.on("/alarm/pt-101/pressure")) == 1)
    await uplink.stop()
    await asyncio.wait_for(task, 5)
    replies = [m.payload for m in sub.on("/reply")]
    assert [r["ok"] for r in replies] == [False] * len(bad) + [True, True]
    for r in replies[: len(bad)]:
        assert set(r) == {"id", "ok", "error"}
        assert r["error"]
    assert [r["id"] for r in replies] == [None, None, "c-2", "c-3", None, "c-5", "c-6", "c-7"]
    assert replies[6]["result"]["pong"] is True
    assert replies[7]["result"]["buffer"]["pending_alarms"] >= 0
    assert store.depth() == 0
    store.close()


async def test_health_is_published_with_buffer_and_uplink_counters(
    broker: Broker, tmp_path: Path
) -> None:
    prefix = unique_prefix()
    cfg = gateway_config(broker.port, prefix, tmp_path, health_interval_s=1)
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)

    def source() -> dict[str, object]:
        return {"devices": {"pt-101": {"polls": 3, "errors": 1}}, "buses": {"rs485-1": {}}}

    uplink = Uplink(cfg, store, health=source)
    task = asyncio.create_task(uplink.run())
    async with Collector(broker.port, f"{prefix}/site-a/gw-test/health") as sub:
        await sub.wait_for(lambda: len(sub.messages) >= 2, 10)
    await uplink.stop()
    await asyncio.wait_for(task, 5)
    health = sub.messages[-1].payload
    assert "seq" not in health
    assert health["gateway"] == "gw-test"
    assert health["devices"] == {"pt-101": {"polls": 3, "errors": 1}}
    assert {"pending_alarms", "pending_telemetry", "dropped_messages", "size_bytes"} <= set(
        health["buffer"]
    )
    assert health["uplink"]["connects"] == 1
    store.close()


async def test_tiny_buffer_during_an_outage_keeps_alarms_and_counts_dropped_telemetry(
    broker: Broker, tmp_path: Path
) -> None:
    prefix = unique_prefix()
    cfg = gateway_config(broker.port, prefix, tmp_path)
    broker.stop()  # the outage: nothing can be delivered
    store = Store.open(
        tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0, max_message_bytes=2048
    )
    for i in range(3000):
        store.add_poll(poll(f"dev-{i % 5}", 1_700_000_000_000 + i, {"level": float(i)}), "gw-test")
        if i % 500 == 0:
            store.add_alarms([alarm(f"a-{i}")], "gw-test")
    trimmed = store.enforce_cap(store.size_bytes() // 4)
    assert trimmed.dropped_messages > 0
    broker.start()
    async with Collector(broker.port, f"{prefix}/#") as sub:
        uplink = Uplink(cfg, store)
        task = asyncio.create_task(uplink.run())
        await sub.wait_for(lambda: store.depth() == 0, 20)
        await sub.wait_for(lambda: len(sub.on("/health")) >= 1)
        await uplink.stop()
        await asyncio.wait_for(task, 5)
    ids = [m.payload["id"] for m in sub.messages if "/alarm/" in m.topic]
    assert ids == [f"a-{i}" for i in range(0, 3000, 500)]
    values = sorted(
        r["value"] for m in sub.messages if "/telemetry/" in m.topic for r in m.payload["readings"]
    )
    assert values == [float(i) for i in range(3000 - len(values), 3000)], "newest kept"
    seqs = sorted(set(sub.seqs()))
    # The drop happened before anything was sealed: the first seq shows how much went.
    assert seqs[0] == 1 + trimmed.dropped_messages
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    health = sub.on("/health")[-1].payload
    assert health["buffer"]["dropped_messages"] == trimmed.dropped_messages
    assert health["buffer"]["dropped_readings"] == 3000 - len(values)
    assert json.dumps(health)
    store.close()
