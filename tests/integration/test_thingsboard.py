"""The ThingsBoard dialect against a real mosquitto: every message checked against the
shapes recorded from ThingsBoard's gateway API documentation (tests/cases/thingsboard),
and RPC round trips as ThingsBoard sends them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt
import jsonschema
import pytest

from edge_agent.clock import now_ms
from edge_agent.ops.args import PointArgs
from edge_agent.records import AlarmState, AlarmTransition
from edge_agent.store import Store
from edge_agent.uplink.commands import CommandRouter
from edge_agent.uplink.drain import Uplink
from edge_agent.uplink.payloads import STORED_READINGS
from tests.conftest import ROOT, Broker
from tests.integration.mqtt_helpers import Collector, Received, gateway_config, poll

pytestmark = pytest.mark.integration

SHAPES: dict[str, dict[str, Any]] = json.loads(
    (ROOT / "tests/cases/thingsboard/shapes.json").read_text()
)


def shape_of(topic: str) -> dict[str, Any]:
    for pattern in (topic, topic.rsplit("/", 1)[0] + "/+"):
        if pattern in SHAPES:
            return SHAPES[pattern]["schema"]
    raise AssertionError(f"no recorded shape for topic {topic}")


@pytest.mark.parametrize("topic", sorted(SHAPES))
def test_the_recorded_examples_fit_their_shapes(topic: str) -> None:
    jsonschema.validate(SHAPES[topic]["example"], SHAPES[topic]["schema"])


def tb_config(port: int, tmp_path: Path) -> Any:
    cfg = gateway_config(port, "unused", tmp_path, api="thingsboard")
    return cfg.model_validate(
        {
            **cfg.model_dump(mode="json"),
            "buses": [{"name": "b1", "kind": "modbus-tcp", "host": "127.0.0.1", "port": 502}],
            "devices": [
                {
                    "name": "pt-101",
                    "bus": "b1",
                    "unit": 1,
                    "profile": "generic-pressure-float32",
                    "tags": {"zone": "dma-3"},
                },
                {"name": "pt-102", "bus": "b1", "unit": 2, "profile": "generic-pressure-float32"},
            ],
        }
    )


def on(sub: Collector, topic: str) -> list[Received]:
    return [m for m in sub.messages if m.topic == topic]


async def test_messages_have_the_documented_shapes_and_rpc_round_trips(
    broker: Broker, tmp_path: Path
) -> None:
    cfg = tb_config(broker.port, tmp_path)
    cfg._base_dir = tmp_path
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    router = CommandRouter(cfg.mqtt.commands)
    router.register("read", lambda a: {"point": a.point, "value": 0.3, "ts": 1}, PointArgs)
    uplink = Uplink(cfg, store, commands=router, health_interval_s=1.0)
    ts = now_ms()
    store.add_poll(poll("pt-101", ts, {"pressure": 0.31}), "gw-test")
    store.add_poll(poll("pt-101", ts + 1000, {"pressure": float("nan")}), "gw-test")
    async with Collector(broker.port, "v1/#") as sub:
        task = asyncio.create_task(uplink.run())
        await sub.wait_for(lambda: len(on(sub, "v1/gateway/telemetry")) >= 1)
        connects = [m.payload for m in on(sub, "v1/gateway/connect")]
        assert connects == [
            {"device": "pt-101", "type": "generic-pressure-float32"},
            {"device": "pt-102", "type": "generic-pressure-float32"},
        ]
        attrs = on(sub, "v1/gateway/attributes")[0].payload
        assert attrs["pt-101"]["zone"] == "dma-3"
        telemetry = on(sub, "v1/gateway/telemetry")[0].payload
        assert telemetry == {
            "pt-101": [
                {"ts": ts, "values": {"pressure": 0.31}},
                {"ts": ts + 1000,
                 "values": {"pressure_quality": "bad", "pressure_reason": "timeout"}},
            ]
        }  # fmt: skip

        store.add_poll(poll("pt-101", ts + 2000, {"pressure": 0.32}), "gw-test")
        raised = AlarmTransition(
            "a-1", ts + 2000, "pt-101", "pressure", "water.pressure.low", "threshold", 2,
            AlarmState.RAISED, 0.12, 0.2, "MPa",
        )  # fmt: skip
        store.add_alarms([raised], "gw-test")
        await sub.wait_for(lambda: len(on(sub, "v1/gateway/telemetry")) >= 3)
        alarm, recovered = (m.payload["pt-101"][0] for m in on(sub, "v1/gateway/telemetry")[1:3])
        assert alarm["values"] == {
            "alarm_id": "a-1", "alarm_point": "pressure", "alarm_rule": "water.pressure.low",
            "alarm_kind": "threshold", "alarm_level": 2, "alarm_state": "raised",
            "alarm_value": 0.12, "alarm_limit": 0.2, "alarm_unit": "MPa",
        }  # fmt: skip
        assert recovered["values"] == {"pressure": 0.32, "pressure_quality": "good"}
        alarm_attrs = on(sub, "v1/gateway/attributes")[-1].payload
        assert alarm_attrs == {
            "pt-101": {"alarm_pressure_water.pressure.low":
                       {"id": "a-1", "level": 2, "state": "raised", "ts": ts + 2000}}
        }  # fmt: skip

        async with aiomqtt.Client("127.0.0.1", broker.port) as tb:
            requests = [
                {"device": "pt-101", "data": {"id": 7, "method": "read",
                                              "params": {"point": "pressure"}}},
                {"device": "pt-101", "data": {"id": 8, "method": "ack", "params": {"id": "a-1"}}},
                {"device": "pt-101", "data": {"id": 9, "method": "nope", "params": {}}},
            ]  # fmt: skip
            for r in requests:
                jsonschema.validate(r, SHAPES["v1/gateway/rpc request"]["schema"])
                await tb.publish("v1/gateway/rpc", json.dumps(r), qos=1)
            await tb.publish("v1/devices/me/rpc/request/42", json.dumps({"method": "ping"}), qos=1)

        def replies() -> dict[int, Any]:
            return {
                m.payload["id"]: m.payload for m in on(sub, "v1/gateway/rpc") if "id" in m.payload
            }

        await sub.wait_for(lambda: len(replies()) == 3)
        await sub.wait_for(lambda: len(on(sub, "v1/devices/me/rpc/response/42")) == 1)
        got = replies()
        assert got[7]["device"] == "pt-101"
        assert got[7]["data"]["ok"] is True
        assert got[7]["data"]["result"]["point"] == "pt-101/pressure"  # the device's point
        assert got[8]["data"]["ok"] is False  # ack is not in the allow-list
        assert "not allowed" in got[8]["data"]["error"]
        assert got[9]["data"]["ok"] is False
        assert on(sub, "v1/devices/me/rpc/response/42")[0].payload["result"]["pong"] is True
        await sub.wait_for(lambda: len(on(sub, "v1/devices/me/telemetry")) >= 1)

        await uplink.stop()
        await asyncio.wait_for(task, 5)
        await sub.wait_for(lambda: len(on(sub, "v1/gateway/disconnect")) == 2)
    assert on(sub, "v1/devices/me/attributes")[-1].payload == {"edgeAgentOnline": False}
    for m in sub.messages:
        if m.topic.startswith("v1/gateway/rpc") and "method" in json.dumps(m.payload):
            continue  # the requests the test itself sent
        jsonschema.validate(m.payload, shape_of(m.topic))
    store.close()
