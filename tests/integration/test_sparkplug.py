"""The Sparkplug B dialect against a real mosquitto, every payload decoded by the tests'
own wire decoder (tests/unit/edge_agent/uplink/sparkplug/wire.py), not by edge-agent's
generated protobuf code."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from edge_agent.clock import now_ms
from edge_agent.records import AlarmState, AlarmTransition
from edge_agent.store import Store
from edge_agent.uplink.commands import CommandRouter
from edge_agent.uplink.drain import Uplink
from edge_agent.uplink.payloads import STORED_READINGS
from edge_agent.uplink.sparkplug import payload as sp
from rules.events import PointMeta
from tests.conftest import Broker
from tests.integration.mqtt_helpers import Collector, Received, gateway_config, poll, unique_prefix
from tests.unit.edge_agent.uplink.sparkplug.wire import decode, metrics

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
POINTS = [PointMeta("pt-101", "pressure", "pressure", "MPa", 0.0, 1.6)]


def config(port: int, group: str, tmp_path: Path, **sparkplug: Any) -> Any:
    return gateway_config(
        port, "unused", tmp_path, api="sparkplug-b",
        sparkplug={"group_id": group, "edge_node_id": "gw-1", **sparkplug},
    )  # fmt: skip


def kind(m: Received) -> str:
    return m.topic.split("/")[2]


def of(sub: Collector, k: str) -> list[Received]:
    return [m for m in sub.messages if kind(m) == k]


def offline(ts: int, state: AlarmState = AlarmState.RAISED) -> AlarmTransition:
    return AlarmTransition(
        "dev-off-1", ts, "pt-101", "_device", "offline", "device", 3, state, 3.0, 3.0,
        "failed polls",
    )  # fmt: skip


def low(ts: int) -> AlarmTransition:
    return AlarmTransition(
        "a-low-1", ts, "pt-101", "pressure", "water.pressure.low", "threshold", 2,
        AlarmState.RAISED, 0.12, 0.2, "MPa",
    )  # fmt: skip


def seqs_in_order(sub: Collector) -> list[int]:
    return [decode(m.raw)["seq"] for m in sub.messages if kind(m) != "NDEATH"]


async def test_birth_data_alarms_death_and_rebirth(broker: Broker, tmp_path: Path) -> None:
    group = unique_prefix()
    cfg = config(broker.port, group, tmp_path)
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    buffered_ts = now_ms() - 60_000
    store.add_poll(poll("pt-101", buffered_ts, {"pressure": 0.31}), "gw-test")
    uplink = Uplink(cfg, store, points=POINTS, backoff_min_s=0.1, backoff_max_s=0.5)
    async with Collector(broker.port, f"spBv1.0/{group}/#") as sub:
        task = asyncio.create_task(uplink.run())
        await sub.wait_for(lambda: len(of(sub, "DDATA")) >= 1)
        nbirth, dbirth, ddata = of(sub, "NBIRTH")[0], of(sub, "DBIRTH")[0], of(sub, "DDATA")[0]
        assert nbirth.topic == f"spBv1.0/{group}/NBIRTH/gw-1"
        assert dbirth.topic == f"spBv1.0/{group}/DBIRTH/gw-1/pt-101"
        node = metrics(nbirth.raw)
        assert decode(nbirth.raw)["seq"] == 0
        bd_seq = node["bdSeq"]["value"]
        assert node["bdSeq"]["datatype"] == sp.INT64
        assert node["Node Control/Rebirth"] == {**node["Node Control/Rebirth"], "value": False}
        dev = metrics(dbirth.raw)
        assert dev["pressure"]["datatype"] == sp.DOUBLE
        assert dev["pressure"]["properties"] == {
            "engUnit": "MPa", "quantity": "pressure", "engLow": 0.0, "engHigh": 1.6,
        }  # fmt: skip
        assert dev["Alarm/pressure/state"]["is_null"] is True
        old = metrics(ddata.raw)["pressure"]
        assert (old["value"], old["timestamp"], old["is_historical"]) == (0.31, buffered_ts, True)

        fresh_ts = now_ms() + 1
        store.add_poll(poll("pt-101", fresh_ts, {"pressure": float("nan")}), "gw-test")
        store.add_alarms([low(fresh_ts)], "gw-test")
        await sub.wait_for(lambda: len(of(sub, "DDATA")) >= 3)
        alarm_data = metrics(of(sub, "DDATA")[1].raw)  # alarms go out first
        assert alarm_data["Alarm/pressure/state"]["value"] == "raised"
        assert alarm_data["Alarm/pressure/level"]["value"] == 2
        assert alarm_data["Alarm/pressure/id"]["value"] == "a-low-1"
        assert alarm_data["Alarm/pressure/value"]["value"] == pytest.approx(0.12)
        bad = metrics(of(sub, "DDATA")[2].raw)["pressure"]
        assert bad["is_null"] is True
        assert "is_historical" not in bad
        assert bad["properties"]["Quality"] == sp.QUALITY_BAD
        assert bad["properties"]["reason"] == "bad: timeout"

        store.add_alarms([offline(now_ms())], "gw-test")
        await sub.wait_for(lambda: len(of(sub, "DDEATH")) == 1)
        store.add_poll(poll("pt-101", now_ms(), {"pressure": float("nan")}), "gw-test")
        store.add_alarms([offline(now_ms(), AlarmState.CLEARED)], "gw-test")
        store.add_poll(poll("pt-101", now_ms() + 5, {"pressure": 0.33}), "gw-test")
        await sub.wait_for(lambda: len(of(sub, "DBIRTH")) == 2 and len(of(sub, "DDATA")) >= 6)
        # after DDEATH: the bad probe is not sent; the cleared alarm births the device
        # again before its DDATA
        after_death = [kind(m) for m in sub.messages if kind(m).startswith("D")]
        cut = after_death.index("DDEATH")
        assert after_death[cut:] == ["DDEATH", "DBIRTH", "DDATA", "DDATA"]

        async with aiomqtt.Client("127.0.0.1", broker.port) as host:
            rebirth = sp.payload(now_ms(), 0, [(sp.REBIRTH, sp.Value(sp.BOOLEAN, True, now_ms()))])
            await host.publish(f"spBv1.0/{group}/NCMD/gw-1", rebirth, qos=1)
        await sub.wait_for(lambda: len(of(sub, "NBIRTH")) == 2 and len(of(sub, "DBIRTH")) == 3)
        again = metrics(of(sub, "NBIRTH")[1].raw)
        assert again["bdSeq"]["value"] == bd_seq
        reborn = metrics(of(sub, "DBIRTH")[2].raw)
        assert reborn["pressure"]["value"] == pytest.approx(0.33)  # the last value known

        await uplink.stop()
        await asyncio.wait_for(task, 5)
        await sub.wait_for(lambda: len(of(sub, "NDEATH")) == 1)
        assert metrics(of(sub, "NDEATH")[0].raw)["bdSeq"]["value"] == bd_seq
    # seq: 0..255 over every message but NDEATH, from each NBIRTH on
    run: list[int] = []
    for s in seqs_in_order(sub):
        if s == 0:
            run = [0]
        else:
            assert s == (run[-1] + 1) % 256
            run.append(s)
    store.close()


async def test_ncmd_runs_a_command_and_replies_in_ndata(broker: Broker, tmp_path: Path) -> None:
    group = unique_prefix()
    cfg = config(broker.port, group, tmp_path)
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    router = CommandRouter(cfg.mqtt.commands)
    uplink = Uplink(cfg, store, commands=router, points=POINTS)
    async with Collector(broker.port, f"spBv1.0/{group}/#") as sub:
        task = asyncio.create_task(uplink.run())
        await sub.wait_for(lambda: len(of(sub, "DBIRTH")) == 1)
        async with aiomqtt.Client("127.0.0.1", broker.port) as host:
            for name, body in (("ping", {"id": "c1"}), ("ack", {"id": "c2", "args": {"id": "x"}})):
                metric = sp.Value(sp.STRING, json.dumps(body), now_ms())
                ncmd = sp.payload(now_ms(), 0, [(f"Commands/{name}", metric)])
                await host.publish(f"spBv1.0/{group}/NCMD/gw-1", ncmd, qos=1)

        def replies() -> dict[str, Any]:
            out = {}
            for m in of(sub, "NDATA"):
                for name, metric in metrics(m.raw).items():
                    if name.endswith("/Reply"):
                        out[name] = json.loads(metric["value"])
            return out

        await sub.wait_for(lambda: len(replies()) == 2)
        replies = replies()
        assert replies["Commands/ping/Reply"]["ok"] is True
        assert replies["Commands/ack/Reply"]["ok"] is False  # not in the allow-list
        await uplink.stop()
        await asyncio.wait_for(task, 5)
    store.close()


async def test_historical_after_a_broker_outage(broker: Broker, tmp_path: Path) -> None:
    group = unique_prefix()
    cfg = config(broker.port, group, tmp_path)
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    # the subscriber (0.2 s) reconnects before the uplink (1 s): it sees the new birth
    uplink = Uplink(cfg, store, points=POINTS, backoff_min_s=2.0, backoff_max_s=2.0)
    async with Collector(broker.port, f"spBv1.0/{group}/#") as sub:
        task = asyncio.create_task(uplink.run())
        await sub.wait_for(lambda: len(of(sub, "NBIRTH")) == 1)
        store.add_poll(poll("pt-101", now_ms(), {"pressure": 0.30}), "gw-test")
        await sub.wait_for(lambda: len(of(sub, "DDATA")) == 1)
        assert "is_historical" not in metrics(of(sub, "DDATA")[0].raw)["pressure"]
        broker.stop()
        await sub.wait_for(lambda: not uplink.connected.is_set())
        during = [now_ms() + i for i in range(3)]
        for i, ts in enumerate(during):
            store.add_poll(poll("pt-101", ts, {"pressure": 0.2 + i / 100}), "gw-test")
        broker.start()
        await sub.wait_for(lambda: len(of(sub, "NBIRTH")) == 2, timeout_s=20)

        def late() -> list[dict[str, Any]]:  # the backlog may go out joined in one DDATA
            return [x for m in of(sub, "DDATA")[1:] for x in decode(m.raw)["metrics"]]

        await sub.wait_for(lambda: len(late()) == 3, timeout_s=20)
        assert [m["timestamp"] for m in late()] == during
        assert all(m["is_historical"] for m in late())
        bd = [metrics(m.raw)["bdSeq"]["value"] for m in of(sub, "NBIRTH")]
        assert bd[1] == (bd[0] + 1) % 256  # a new connection, a new bdSeq
        await uplink.stop()
        await asyncio.wait_for(task, 5)
    store.close()


async def test_bdseq_across_an_agent_kill(broker: Broker, tmp_path: Path) -> None:
    group = unique_prefix()
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(
        json.dumps(
            {
                "gateway": {"id": "gw-1", "site": "s", "data_dir": str(tmp_path)},
                "mqtt": {
                    "port": broker.port,
                    "api": "sparkplug-b",
                    "sparkplug": {"group_id": group},
                },
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, str(HERE / "uplink_proc.py"), str(cfg_file), str(tmp_path / "b.db")]
    async with Collector(broker.port, f"spBv1.0/{group}/#") as sub:
        for run in range(2):
            proc = await asyncio.create_subprocess_exec(*cmd, env=env)
            try:
                await sub.wait_for(lambda r=run: len(of(sub, "NBIRTH")) == r + 1, timeout_s=30)
            finally:
                proc.send_signal(signal.SIGKILL)
                await asyncio.wait_for(proc.wait(), 10)
            await sub.wait_for(lambda r=run: len(of(sub, "NDEATH")) == r + 1)
    births = [metrics(m.raw)["bdSeq"]["value"] for m in of(sub, "NBIRTH")]
    deaths = [metrics(m.raw)["bdSeq"]["value"] for m in of(sub, "NDEATH")]
    assert deaths == births  # each will carries the bdSeq of its own birth
    assert births[1] == (births[0] + 1) % 256


async def test_waits_for_the_primary_host_and_leaves_when_it_goes(
    broker: Broker, tmp_path: Path
) -> None:
    group = unique_prefix()
    host_id = f"scada-{group}"
    cfg = config(broker.port, group, tmp_path, primary_host_id=host_id)
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    uplink = Uplink(cfg, store, points=POINTS, backoff_min_s=0.1, backoff_max_s=0.3)
    state_topic = f"spBv1.0/STATE/{host_id}"

    async def host_says(online: bool) -> None:
        async with aiomqtt.Client("127.0.0.1", broker.port) as host:
            body = json.dumps({"online": online, "timestamp": now_ms()})
            await host.publish(state_topic, body, qos=1, retain=True)

    async with Collector(broker.port, f"spBv1.0/{group}/#") as sub:
        task = asyncio.create_task(uplink.run())
        await asyncio.sleep(1.0)  # connected and subscribed, but no host yet
        assert of(sub, "NBIRTH") == []
        await host_says(True)
        await sub.wait_for(lambda: len(of(sub, "NBIRTH")) == 1)
        await host_says(False)
        await sub.wait_for(lambda: len(of(sub, "NDEATH")) == 1)
        await asyncio.sleep(0.5)
        assert len(of(sub, "NBIRTH")) == 1  # waits again
        await host_says(True)
        await sub.wait_for(lambda: len(of(sub, "NBIRTH")) == 2)
        await uplink.stop()
        await asyncio.wait_for(task, 5)
    async with aiomqtt.Client("127.0.0.1", broker.port) as host:  # clear the retained state
        await host.publish(state_topic, b"", qos=1, retain=True)
    store.close()
