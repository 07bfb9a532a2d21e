"""Sparkplug B payloads: topics, datatypes and metrics, built with protobuf from the
specification's schema (sparkplug_b.proto beside this file)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from edge_agent.uplink.sparkplug.sparkplug_b_pb2 import Payload

NAMESPACE = "spBv1.0"

# Datatype numbers of the specification ("Data Types").
INT32, INT64, DOUBLE, BOOLEAN, STRING = 3, 4, 10, 11, 12

# The specification's quality codes, carried as the metric property "Quality" (Int32).
QUALITY_BAD, QUALITY_GOOD = 0, 192

BD_SEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"
HEALTH = "Health"
COMMAND_PREFIX = "Commands/"
REPLY_SUFFIX = "/Reply"

# The fields of an alarm event (uplink.payloads.alarm_event) that become metrics
# `Alarm/{point}/{field}` of the alarm's device; time is the metric timestamp.
ALARM_FIELDS: Mapping[str, int] = {
    "id": STRING, "rule": STRING, "kind": STRING, "level": INT32, "state": STRING,
    "value": DOUBLE, "limit": DOUBLE, "unit": STRING, "eta_s": DOUBLE, "evidence": STRING,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class SpTopics:
    group_id: str
    edge_node_id: str

    def node(self, kind: str) -> str:
        return f"{NAMESPACE}/{self.group_id}/{kind}/{self.edge_node_id}"

    def device(self, kind: str, device: str) -> str:
        return f"{NAMESPACE}/{self.group_id}/{kind}/{self.edge_node_id}/{device}"

    @staticmethod
    def state(host_id: str) -> str:
        return f"{NAMESPACE}/STATE/{host_id}"


def alarm_metric_name(point: str, field: str) -> str:
    return f"Alarm/{point}/{field}"


@dataclass(frozen=True, slots=True)
class Value:
    """One metric's value as a Sparkplug metric carries it."""

    datatype: int
    value: Any  # None: is_null
    ts_ms: int
    props: tuple[tuple[str, int, Any], ...] = ()  # (key, datatype, value)
    historical: bool = False


def set_metric(m: Payload.Metric, name: str, v: Value) -> None:
    m.name = name
    m.timestamp = v.ts_ms
    m.datatype = v.datatype
    if v.historical:
        m.is_historical = True
    if v.props:
        for key, datatype, value in v.props:
            m.properties.keys.append(key)
            _set_property(m.properties.values.add(), datatype, value)
    value = v.value
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        m.is_null = True
    elif v.datatype == DOUBLE:
        m.double_value = float(value)
    elif v.datatype == INT32:
        m.int_value = int(value) & 0xFFFFFFFF  # the spec's two's complement in uint32
    elif v.datatype == INT64:
        m.long_value = int(value) & 0xFFFFFFFFFFFFFFFF
    elif v.datatype == BOOLEAN:
        m.boolean_value = bool(value)
    else:
        m.string_value = value if isinstance(value, str) else json.dumps(value)


def _set_property(p: Payload.PropertyValue, datatype: int, value: Any) -> None:
    p.type = datatype
    if value is None:
        p.is_null = True
    elif datatype == INT32:
        p.int_value = int(value) & 0xFFFFFFFF
    elif datatype == DOUBLE:
        p.double_value = float(value)
    else:
        p.string_value = str(value)


def payload(ts_ms: int, seq: int | None, metrics: Iterable[tuple[str, Value]]) -> bytes:
    """A serialized Payload; `seq` None for NDEATH, which carries none."""
    msg = Payload()
    msg.timestamp = ts_ms
    if seq is not None:
        msg.seq = seq
    for name, v in metrics:
        set_metric(msg.metrics.add(), name, v)
    return bytes(msg.SerializeToString())


def parse(data: bytes) -> Payload:
    """A received NCMD/DCMD; raises ValueError when it is not a Sparkplug payload."""
    msg = Payload()
    try:
        msg.ParseFromString(data)
    except Exception as err:  # protobuf's DecodeError
        raise ValueError(f"not a Sparkplug B payload: {err}") from err
    return msg


def reading_value(element: Mapping[str, Any], historical: bool) -> Value:
    """A stored reading (`{"ts", "point", "value", "quality", "reason"?}`) as a DDATA
    metric value (the unit is in DBIRTH); a reading that is not good carries the
    properties Quality and reason."""
    props: list[tuple[str, int, Any]] = []
    quality = element.get("quality", "good")
    if quality != "good":
        props.append(("Quality", INT32, QUALITY_BAD))
        props.append(("reason", STRING, f"{quality}: {element.get('reason') or 'unknown'}"))
    return Value(DOUBLE, element.get("value"), int(element["ts"]), tuple(props), historical)
