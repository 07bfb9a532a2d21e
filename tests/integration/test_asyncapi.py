"""What the agent publishes matches docs/asyncapi.yaml, channel by channel."""

from __future__ import annotations

import asyncio
import math
import re
from pathlib import Path
from typing import Any

import aiomqtt
import jsonschema
import pytest
import yaml

from edge_agent.ops.args import AckArgs, ModeArgs, PointArgs
from edge_agent.records import ActionEvent, ActionState, AlarmState, Evidence, Member
from edge_agent.store import Store
from edge_agent.uplink import payloads
from edge_agent.uplink.drain import Uplink
from edge_agent.uplink.payloads import STORED_READINGS
from tests.conftest import ROOT, Broker
from tests.integration.mqtt_helpers import (
    Collector,
    alarm,
    gateway_config,
    poll,
    unique_prefix,
)

pytestmark = pytest.mark.integration

DOC = yaml.safe_load((ROOT / "docs" / "asyncapi.yaml").read_text())


TREND_EVIDENCE = Evidence(window_s=600.0, baseline=0.15, delta=-0.02, slope=-3e-5, eta_s=300.0)
COMPOSITE_EVIDENCE = Evidence(
    window_s=300.0, baseline=0.40, delta=-0.1,
    members=(Member("pt-101", "pressure", "water.pressure.drop", 1_699_999_990_000, 0.3, -0.1),
             Member("fm-1", "flow", "water.flow.rise", 1_700_000_000_000, 980.0, None)),
    note="cold start: fixed limits",
)  # fmt: skip


def resolve(ref: str) -> Any:
    node: Any = DOC
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def channel_patterns(root: str) -> dict[str, tuple[re.Pattern[str], str]]:
    """channel name -> (topic regex, schema $ref of its message payload)."""
    out = {}
    for name, channel in DOC["channels"].items():
        address = channel["address"].replace("{prefix}/{site}/{gateway}", re.escape(root))
        regex = re.compile("^" + re.sub(r"\{[a-z]+\}", "[^/]+", address) + "$")
        (message,) = channel["messages"].values()
        payload_ref = resolve(message["$ref"])["payload"]["$ref"]
        out[name] = (regex, payload_ref)
    return out


def validator(schema_ref: str) -> jsonschema.Draft202012Validator:
    # The whole document is the root resource, so "#/components/..." refs resolve.
    return jsonschema.Draft202012Validator({**DOC, "$ref": schema_ref})


def test_the_document_is_asyncapi_3_with_valid_schemas() -> None:
    assert DOC["asyncapi"].startswith("3.")
    for name, schema in DOC["components"]["schemas"].items():
        assert name
        jsonschema.Draft202012Validator.check_schema(schema)
    for op in DOC["operations"].values():
        resolve(op["channel"]["$ref"])


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
async def test_everything_published_validates_against_the_document(
    broker: Broker, tmp_path: Path, fmt: str
) -> None:
    prefix = unique_prefix() + "/city"  # a prefix with a slash in it
    root = f"{prefix}/site-a/gw-test"
    cfg = gateway_config(
        broker.port,
        prefix,
        tmp_path,
        payload=fmt,
        health_interval_s=1,
        commands={"allow": ["ping", "ack", "reload", "mode", "read", "diag"]},
    )
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    uplink = Uplink(cfg, store)
    assert uplink.router is not None
    uplink.router.register("ack", lambda a: {"acked": a.id}, AckArgs)
    uplink.router.register("read", lambda a: {"point": a.point, "value": 0.3, "ts": 1}, PointArgs)
    uplink.router.register("mode", lambda a: {"mode": a.mode}, ModeArgs)
    task = asyncio.create_task(uplink.run())

    async with Collector(broker.port, f"{root}/#", fmt=fmt) as sub:
        await uplink.connected.wait()
        store.add_poll(
            poll("pt-101", 1_700_000_000_000, {"pressure": 0.31, "temp": math.nan}), "gw-test"
        )
        store.add_alarms([alarm("a-1", evidence=COMPOSITE_EVIDENCE), alarm("a-2", eta_s=300.0,
                          evidence=TREND_EVIDENCE)], "gw-test")  # fmt: skip
        store.add_alarms([alarm("a-1", AlarmState.CLEARED)], "gw-test")
        store.finish_action(
            ActionEvent("e-1", 1_700_000_000_500, "io-7", "relay1", "gas.ventilate", "a-1", 1.0,
                        ActionState.DONE, read_back=1.0), "gw-test",
        )  # fmt: skip
        store.finish_action(
            ActionEvent("e-2", 1_700_000_000_600, "io-7", "relay2", "command", None, 1.0,
                        ActionState.FAILED, reason="timeout"), "gw-test",
        )  # fmt: skip
        commands = [
            ("ping", {"id": "c1"}),
            ("ack", {"id": "c2", "args": {"id": "a-2"}}),
            ("mode", {"id": "c3", "args": {"mode": "flood-season"}}),
            ("read", {"id": "c4", "args": {"point": "pt-101/pressure"}}),
            ("diag", {"id": "c5"}),
            ("reload", {"id": "c6"}),  # allowed but no handler: an error reply
            ("bogus", {"id": "c7"}),
        ]
        encode = payloads.Encoder("json" if fmt == "json" else "msgpack").encode
        async with aiomqtt.Client("127.0.0.1", broker.port) as platform:
            for name, body in commands:
                await platform.publish(f"{root}/cmd/{name}", encode(body), qos=1)
        await sub.wait_for(lambda: len(sub.on("/reply")) == len(commands))
        await sub.wait_for(lambda: len(sub.on("/health")) >= 1 and store.depth() == 0)
        await uplink.stop()
        await asyncio.wait_for(task, 5)
        await sub.wait_for(lambda: sub.messages[-1].topic.endswith("/status"))
    store.close()

    patterns = channel_patterns(root)
    seen: set[str] = set()
    for m in sub.messages:
        matches = [name for name, (rx, _) in patterns.items() if rx.match(m.topic)]
        assert len(matches) == 1, f"{m.topic} matches {matches} channels"
        name = matches[0]
        errors = list(validator(patterns[name][1]).iter_errors(m.payload))
        assert not errors, f"{m.topic}: {[e.message for e in errors]}"
        seen.add(name)
    assert seen == set(DOC["channels"]), "every documented channel was exercised"


@pytest.mark.parametrize(
    ("schema", "payload"),
    [
        (
            "AlarmEvent",
            {
                "id": "a",
                "ts": 1,
                "gateway": "g",
                "device": "d",
                "point": "p",
                "rule": "r",
                "kind": "k",
                "level": 1,
                "state": "raised",
                "value": 1.0,
                "limit": 1.0,
                "unit": "m",
            },
        ),  # no seq
        (
            "Telemetry",
            {
                "seq": 1,
                "gateway": "g",
                "device": "d",
                "readings": [{"ts": 1, "point": "p", "value": None, "quality": "bad"}],
            },
        ),
        ("Status", {"state": "sleeping", "ts": 1, "version": "x"}),
        ("CommandReply", {"id": "c", "ok": False}),
        ("AlarmsSnapshot", {"ts": 1, "gateway": "g", "alarms": [{"seq": 3}]}),
    ],
)
def test_schemas_reject_what_the_contract_forbids(schema: str, payload: Any) -> None:
    assert list(validator(f"#/components/schemas/{schema}").iter_errors(payload))
