"""The uplink against a real mosquitto: contract fields, status, last will, outages."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from edge_agent.pipeline.upkeep import keep_store
from edge_agent.records import AlarmState
from edge_agent.store import Store
from edge_agent.uplink.drain import Uplink
from edge_agent.uplink.payloads import STORED_READINGS
from tests.conftest import Broker
from tests.integration.mqtt_helpers import Collector, alarm, gateway_config, poll, unique_prefix

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
ALARM_FIELDS = {
    "id",
    "seq",
    "ts",
    "gateway",
    "device",
    "point",
    "rule",
    "kind",
    "level",
    "state",
    "value",
    "limit",
    "unit",
}


async def wait_until(pred: object, timeout_s: float = 15.0) -> None:
    assert callable(pred)
    async with asyncio.timeout(timeout_s):
        while not pred():  # noqa: ASYNC110 (polls state that has no event)
            await asyncio.sleep(0.05)


async def test_alarm_and_telemetry_arrive_with_every_contract_field(
    broker: Broker, tmp_path: Path
) -> None:
    prefix = unique_prefix()
    cfg = gateway_config(broker.port, prefix, tmp_path)
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    store.add_poll(
        poll("pt-101", 1_700_000_000_000, {"pressure": 0.31, "temp": math.nan}), "gw-test"
    )
    store.add_alarms([alarm("a-1"), alarm("a-2", eta_s=120.0)], "gw-test")
    root = f"{prefix}/site-a/gw-test"
    async with Collector(broker.port, f"{prefix}/#") as sub:
        uplink = Uplink(cfg, store)
        task = asyncio.create_task(uplink.run())
        await sub.wait_for(lambda: len(sub.seqs()) == 3 and len(sub.on("/alarms")) >= 2)
        await wait_until(lambda: store.depth() == 0)
        await uplink.stop()
        await asyncio.wait_for(task, 5)

    alarms = sub.on(f"{root}/alarm/pt-101/pressure")
    assert [a.payload["id"] for a in alarms] == ["a-1", "a-2"]
    assert set(alarms[0].payload) == ALARM_FIELDS
    assert set(alarms[1].payload) == ALARM_FIELDS | {"eta_s"}
    assert alarms[1].payload["eta_s"] == 120.0
    assert alarms[0].payload["gateway"] == "gw-test"
    assert alarms[0].payload["state"] == "raised"
    (tele,) = sub.on(f"{root}/telemetry/pt-101")
    assert tele.payload == {
        "seq": 3,
        "gateway": "gw-test",
        "device": "pt-101",
        "readings": [
            {"ts": 1_700_000_000_000, "point": "pressure", "value": 0.31, "quality": "good"},
            {
                "ts": 1_700_000_000_000,
                "point": "temp",
                "value": None,
                "quality": "bad",
                "reason": "timeout",
            },
        ],
    }
    assert sorted(sub.seqs()) == [1, 2, 3]
    snapshot = sub.on(f"{root}/alarms")[-1].payload
    assert [a["id"] for a in snapshot["alarms"]] == ["a-1", "a-2"]
    status = sub.on(f"{root}/status")
    assert status[0].payload["state"] == "online"
    assert status[-1].payload["state"] == "offline"
    assert set(status[0].payload) >= {"state", "ts", "version"}
    store.close()


async def test_status_is_retained_online_and_last_will_says_offline_when_killed(
    broker: Broker, tmp_path: Path
) -> None:
    prefix = unique_prefix()
    cfg = gateway_config(broker.port, prefix, tmp_path, keepalive_s=5)
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(cfg.model_dump_json())
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "uplink_proc.py"),
        str(cfg_file),
        str(tmp_path / "b.db"),
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    status_topic = f"{prefix}/site-a/gw-test/status"
    try:
        # A subscriber arriving later gets the retained birth message.
        for _ in range(100):
            async with Collector(broker.port, status_topic) as late:
                await asyncio.sleep(0.2)
            if any(m.retain for m in late.messages):
                break
        assert late.messages[-1].retain
        assert late.messages[-1].payload["state"] == "online"
        async with Collector(broker.port, status_topic) as sub:
            await sub.wait_for(lambda: len(sub.messages) >= 1)
            proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), 5)
            await sub.wait_for(lambda: sub.messages[-1].payload["state"] == "offline")
        async with Collector(broker.port, status_topic) as after:
            await after.wait_for(lambda: len(after.messages) >= 1)
        assert after.messages[-1].retain
        assert after.messages[-1].payload["state"] == "offline"
    finally:
        if proc.returncode is None:
            proc.kill()
            await asyncio.wait_for(proc.wait(), 5)


async def test_broker_outage_delays_but_loses_nothing_and_seq_has_no_gaps(
    make_broker: object, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert callable(make_broker)
    caplog.set_level(logging.INFO, logger="edge_agent")
    broker: Broker = make_broker(persistent=True)
    prefix = unique_prefix()
    cfg = gateway_config(broker.port, prefix, tmp_path, max_inflight=5)
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    uplink = Uplink(cfg, store, backoff_min_s=0.1, backoff_max_s=0.5)
    sent_alarms = 0
    sent_polls = 0

    async def feed(n: int) -> None:
        nonlocal sent_alarms, sent_polls
        for _ in range(n):
            store.add_poll(
                poll(
                    f"dev-{sent_polls % 3}",
                    1_700_000_000_000 + sent_polls,
                    {"level": float(sent_polls)},
                ),
                "gw-test",
            )
            sent_polls += 1
            if sent_polls % 7 == 0:
                store.add_alarms([alarm(f"a-{sent_alarms}")], "gw-test")
                sent_alarms += 1
            await asyncio.sleep(0.005)

    async with Collector(broker.port, f"{prefix}/#", persistent=True) as sub:
        task = asyncio.create_task(uplink.run())
        await uplink.connected.wait()
        await feed(100)
        broker.stop()
        await wait_until(lambda: not uplink.connected.is_set(), 10)
        await feed(100)
        await asyncio.sleep(0.5)
        assert store.depth() > 0, "rows must stay in the outbox while the broker is down"
        broker.start()
        await feed(100)
        await sub.wait_for(lambda: store.depth() == 0, 30)
        last = store.stats()["next_seq"] - 1
        await sub.wait_for(lambda: set(sub.seqs()) >= set(range(1, last + 1)), 30)
        await uplink.stop()
        await asyncio.wait_for(task, 5)

    # One log line when the broker goes, one when it is back: not one per retry.
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("edge_agent.uplink")]
    assert len([m for m in lines if m.startswith("broker unavailable")]) == 1
    assert len([m for m in lines if m.startswith("broker connection restored")]) == 1
    assert uplink.counters["connect_failures"] >= 2
    seqs = sub.seqs()
    assert set(seqs) == set(range(1, last + 1)), "no gaps, nothing extra"
    by_seq: dict[int, bytes] = {}
    for m in sub.messages:
        if "/alarm/" in m.topic or "/telemetry/" in m.topic:
            # A duplicate only ever repeats the same seq with the same content.
            assert by_seq.setdefault(m.payload["seq"], m.raw) == m.raw
    alarm_ids = {m.payload["id"] for m in sub.messages if "/alarm/" in m.topic}
    assert alarm_ids == {f"a-{i}" for i in range(sent_alarms)}
    readings = [r for m in sub.messages if "/telemetry/" in m.topic for r in m.payload["readings"]]
    assert {r["value"] for r in readings} == {float(i) for i in range(sent_polls)}
    assert json.loads(by_seq[1])["seq"] == 1
    store.close()


async def test_cleared_alarm_leaves_the_retained_snapshot(broker: Broker, tmp_path: Path) -> None:
    prefix = unique_prefix()
    cfg = gateway_config(broker.port, prefix, tmp_path)
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    uplink = Uplink(cfg, store)
    task = asyncio.create_task(uplink.run())
    snap_topic = f"{prefix}/site-a/gw-test/alarms"
    async with Collector(broker.port, snap_topic) as sub:
        store.add_alarms([alarm("a-1"), alarm("a-2")], "gw-test")
        await sub.wait_for(
            lambda: bool(sub.messages) and len(sub.messages[-1].payload["alarms"]) == 2
        )
        store.add_alarms([alarm("a-1", AlarmState.CLEARED)], "gw-test")
        await sub.wait_for(lambda: [a["id"] for a in sub.messages[-1].payload["alarms"]] == ["a-2"])
    await uplink.stop()
    await asyncio.wait_for(task, 5)
    store.close()


async def test_telemetry_at_qos_0_when_configured(broker: Broker, tmp_path: Path) -> None:
    prefix = unique_prefix()
    cfg = gateway_config(broker.port, prefix, tmp_path, telemetry_qos=0)
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    uplink = Uplink(cfg, store)
    task = asyncio.create_task(uplink.run())
    async with Collector(broker.port, f"{prefix}/#") as sub:
        store.add_poll(poll("pt-101", 1_700_000_000_000, {"pressure": 0.3}), "gw-test")
        store.add_alarms([alarm("a-1")], "gw-test")
        await sub.wait_for(lambda: sorted(sub.seqs()) == [1, 2] and store.depth() == 0)
    assert [m.qos for m in sub.on("/telemetry/pt-101")] == [0]
    assert [m.qos for m in sub.on("/alarm/pt-101/pressure")] == [1]
    await uplink.stop()
    await asyncio.wait_for(task, 5)
    store.close()


async def test_batched_readings_are_flushed_by_upkeep_when_no_poll_follows(
    broker: Broker, tmp_path: Path
) -> None:
    prefix = unique_prefix()
    cfg = gateway_config(broker.port, prefix, tmp_path)
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=2.0)
    uplink = Uplink(cfg, store)
    task = asyncio.create_task(uplink.run())
    upkeep = asyncio.create_task(keep_store(store, max_bytes=10**9, retention_s=86400))
    async with Collector(broker.port, f"{prefix}/#") as sub:
        await uplink.connected.wait()
        store.add_poll(poll("pt-101", 1_700_000_000_000, {"pressure": 0.3}), "gw-test")
        store.add_poll(poll("pt-101", 1_700_000_001_000, {"pressure": 0.4}), "gw-test")
        await asyncio.sleep(1.0)
        assert sub.seqs() == []  # buffered: committed once commit_interval_s has passed
        await sub.wait_for(lambda: len(sub.seqs()) == 1, 8)
    (tele,) = sub.on("/telemetry/pt-101")
    assert [r["value"] for r in tele.payload["readings"]] == [0.3, 0.4]
    upkeep.cancel()
    await uplink.stop()
    await asyncio.wait_for(task, 5)
    store.close()


async def test_a_gateway_that_lost_buffer_and_mark_continues_above_the_retained_mark(
    broker: Broker, tmp_path: Path
) -> None:
    prefix = unique_prefix()
    seen: list[int] = []

    async def run_once(data: Path, n: int) -> None:
        cfg = gateway_config(broker.port, prefix, data)
        store = Store.open(data / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
        uplink = Uplink(cfg, store)
        async with Collector(broker.port, f"{prefix}/site-a/gw-test/telemetry/#") as sub:
            task = asyncio.create_task(uplink.run())
            await wait_until(uplink.connected.is_set)
            for i in range(n):
                store.add_poll(poll(f"dev-{i}", 1_700_000_000_000 + i, {"x": 1.0}), "gw-test")
            uplink.wake()
            await sub.wait_for(lambda: len(sub.messages) >= n)
            await uplink.stop()
            await asyncio.wait_for(task, 10)
        seen.extend(m.payload["seq"] for m in sub.messages)
        store.close()

    first = tmp_path / "disk-1"
    await run_once(first, 5)
    shutil.rmtree(first)  # a new disk: buffer.db and buffer.db.seq are both gone
    await run_once(tmp_path / "disk-2", 3)
    assert seen[:5] == [1, 2, 3, 4, 5]
    assert min(seen[5:]) > 5, seen  # never a seq the platform has already seen
    assert len(set(seen)) == len(seen)
