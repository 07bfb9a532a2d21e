"""The Sparkplug B dialect (`[mqtt] api = "sparkplug-b"`): the gateway is an Edge Node.

Sparkplug 3.0 as the specification states it, on the one uplink session:

- Every connection attempt takes the next `bdSeq` (0..255, kept in the store so it
  survives a restart) and registers NDEATH with it as the MQTT will (QoS 1, no retain).
- Birth: NBIRTH (`seq` 0; `bdSeq`, `Node Control/Rebirth`, `Health`, `Commands/{name}`
  and the gateway's own alarm metrics), then a DBIRTH per device with a Double metric
  per point (properties `engUnit`, `quantity`, `engLow`/`engHigh`), the point's alarm
  metrics `Alarm/{point}/{field}` (and `Alarm/_device/...` for the device's own alarms)
  and the last values known. `seq` counts 0..255 over every message but NDEATH.
- Telemetry rows become DDATA with each reading's own timestamp; readings taken before
  this connection was attempted are `is_historical` (buffered across an outage). A reading
  that is not good is `is_null` (bad) and carries the properties Quality (0) and reason.
- Alarm events become DDATA of the alarm's device: the event's fields as the metrics
  `Alarm/{point}/{field}`, timestamped at the transition. A device's `offline` alarm
  publishes DDEATH after it; the device is born again (DBIRTH) when it answers.
- NCMD `Node Control/Rebirth` = true births everything again. NCMD `Commands/{name}`
  (String: the edge-agent request JSON `{"id", "args"}`) runs the command under the
  same allow-list and signing rules; the reply is NDATA `Commands/{name}/Reply`.
  DCMD: a metric named after a writable point is the `write` command on it.
- `primary_host_id` set: nothing is born until `spBv1.0/STATE/{id}` says online; when
  it says offline the node publishes NDEATH, disconnects, and waits again.
- Clean stop: NDEATH with the session's `bdSeq`, then disconnect.

Telemetry and alarm DDATA go with QoS 1 (the spec says 0) so that a row leaves the
buffer only once the broker has it, as in every dialect; set `telemetry_qos = 0` for
the spec's QoS on telemetry. Births and health go with QoS 0.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from typing import Any

from edge_agent.clock import now_ms
from edge_agent.config import GatewayConfig
from edge_agent.records import AlarmTransition, Json
from edge_agent.store import OutboxRow, Store
from edge_agent.uplink.client import LastWill
from edge_agent.uplink.commands import KNOWN
from edge_agent.uplink.dialect import CommandHandler, Outgoing, SessionEndError
from edge_agent.uplink.payloads import action_event, alarm_event
from edge_agent.uplink.sparkplug import payload as sp
from edge_agent.uplink.sparkplug.payload import (
    ALARM_FIELDS,
    BD_SEQ,
    BOOLEAN,
    DOUBLE,
    HEALTH,
    INT64,
    REBIRTH,
    STRING,
    SpTopics,
    Value,
)  # fmt: skip
from rules.events import PointMeta

log = logging.getLogger(__name__)

NODE_ALARMS = "_gateway"  # the `point` slot of alarms of no device (the gateway's own)
DEVICE_ALARMS = "_device"  # pipeline.detection.DEVICE_POINT: a device's own alarms


class SparkplugDialect:
    name = "sparkplug-b"
    mark_topic: str | None = None  # Sparkplug has no retained status to keep a seq mark in

    def __init__(
        self, cfg: GatewayConfig, store: Store, version: str, points: Sequence[PointMeta] = ()
    ) -> None:
        spc = cfg.mqtt.sparkplug
        self.cfg = cfg
        self.store = store
        self.version = version
        self.topics = SpTopics(spc.group_id or cfg.gateway.site, spc.edge_node_id or cfg.gateway.id)
        self.host_id = spc.primary_host_id
        self.points: dict[str, dict[str, PointMeta]] = {}
        for m in points:
            self.points.setdefault(m.device, {})[m.point] = m
        self.bd_seq = 0
        self._seq = 0
        self._since_ms = 0  # readings before this are historical
        self._host_online = False
        self._born: set[str] = set()
        self._dead: set[str] = set()  # DDEATH sent (offline alarm), not born again yet
        self._last: dict[str, dict[str, Value]] = {}  # device -> metric -> last value

    # -- the session's moments ---------------------------------------------------------

    def will(self) -> LastWill:
        self.bd_seq = self.store.take_number("sparkplug-bdseq") % 256
        self._host_online = False
        # Readings measured before this connection attempt were buffered: historical.
        self._since_ms = now_ms()
        return LastWill(self.topics.node("NDEATH"), self._ndeath(), qos=1, retain=False)

    def subscriptions(self) -> Sequence[str]:
        subs = [self.topics.node("NCMD"), self.topics.device("DCMD", "+")]
        if self.host_id is not None:
            subs.append(SpTopics.state(self.host_id))
        return subs

    @property
    def waiting(self) -> bool:
        return self.host_id is not None and not self._host_online

    def birth(self) -> list[Outgoing]:
        self._seq = 0
        self._born.clear()
        active = self.store.active_alarms()
        # A device whose offline alarm is active is not born: it is born when it answers.
        self._dead = {t.device for t in active if t.kind == "device" and t.rule == "offline"}
        ts = now_ms()
        node: list[tuple[str, Value]] = [
            (BD_SEQ, Value(INT64, self.bd_seq, ts)),
            (REBIRTH, Value(BOOLEAN, False, ts)),
            ("Properties/Version", Value(STRING, self.version, ts)),
            (HEALTH, Value(STRING, None, ts)),
        ]
        for name in KNOWN:
            node.append((sp.COMMAND_PREFIX + name, Value(STRING, "", ts)))
            node.append((sp.COMMAND_PREFIX + name + sp.REPLY_SUFFIX, Value(STRING, None, ts)))
        node += self._alarm_slots(NODE_ALARMS, ts, self._active_of(None))
        out = [self._node("NBIRTH", node, qos=0)]
        for device in sorted(self.points | self._last):
            if device not in self._dead:
                out.append(self._dbirth(device))
        return out

    def telemetry(self, row: OutboxRow) -> list[Outgoing]:
        readings: list[dict[str, Any]] = json.loads(f"[{row.body}]")
        device = row.device
        if device in self._dead and all(r.get("quality") == "bad" for r in readings):
            return []  # DDEATH already says so; no data until it answers again
        known = self.points.setdefault(device, {})
        out: list[Outgoing] = []
        new_points = {r["point"] for r in readings} - known.keys()
        for p in sorted(new_points):  # a point no birth named: born again with it
            known[p] = PointMeta(device, p, "", "")
        if device not in self._born or new_points or device in self._dead:
            out.append(self._dbirth(device))
        metrics = []
        last = self._last.setdefault(device, {})
        for r in readings:
            v = sp.reading_value(r, int(r["ts"]) < self._since_ms)
            metrics.append((r["point"], v))
            last[r["point"]] = Value(v.datatype, v.value, v.ts_ms, v.props)
        qos = self.cfg.mqtt.telemetry_qos
        out.append(self._device("DDATA", device, metrics, qos=qos))
        return out

    def alarm(self, row: OutboxRow) -> list[Outgoing]:
        t = row.alarm
        if t is None:  # a 0.1 buffer row: the event's JSON
            event: Json = json.loads(row.body)
            device, point, ts = str(event["device"]), str(event["point"]), int(event["ts"])
        else:
            event, device, point, ts = alarm_event(t, row.gateway), t.device, t.point, t.ts_ms
        values = _alarm_values(event, ts)
        if device not in self.points and device not in self._last:  # the gateway's own
            slot = [(sp.alarm_metric_name(NODE_ALARMS, f), v) for f, v in values.items()]
            return [self._node("NDATA", slot, qos=1)]
        metrics = [(sp.alarm_metric_name(point, f), v) for f, v in values.items()]
        known = self.points.setdefault(device, {})
        new_point = point != DEVICE_ALARMS and point not in known
        if new_point:  # an alarm on a point no birth named: born again with it
            known[point] = PointMeta(device, point, "", "")
        out: list[Outgoing] = []
        if device not in self._born or device in self._dead or new_point:
            out.append(self._dbirth(device))
        out.append(self._device("DDATA", device, metrics, qos=1))
        offline = event.get("kind") == "device" and event.get("rule") == "offline"
        if offline and event.get("state") in ("raised", "level-changed"):
            out.append(self._device("DDEATH", device, [], qos=1))
            self._dead.add(device)
        return out

    def action(self, row: OutboxRow) -> list[Outgoing]:
        """An action event as metrics of its device, `Action/{point}/{field}` (the way
        alarm events go), in a DDATA of that device."""
        assert row.action is not None  # encode_row passes only rows with their decision
        event = action_event(row.action, row.gateway)
        device, point, ts = row.action.device, row.action.point, row.action.ts_ms
        metrics = [
            (f"Action/{point}/{f}", Value(dt, event.get(f), ts))
            for f, dt in (("id", STRING), ("action", STRING), ("alarm_id", STRING),
                          ("value", DOUBLE), ("state", STRING), ("reason", STRING),
                          ("read_back", DOUBLE))
        ]  # fmt: skip
        if device not in self.points and device not in self._last:  # not a device here
            return [self._node("NDATA", metrics, qos=1)]
        out: list[Outgoing] = []
        if device not in self._born or device in self._dead:
            out.append(self._dbirth(device))
        out.append(self._device("DDATA", device, metrics, qos=1))
        return out

    def after_alarms(self) -> list[Outgoing]:
        return []

    def health(self, health: Json) -> list[Outgoing]:
        value = Value(STRING, json.dumps(health, separators=(",", ":")), now_ms())
        return [self._node("NDATA", [(HEALTH, value)], qos=0)]

    async def incoming(self, topic: str, data: bytes, commands: CommandHandler) -> list[Outgoing]:
        if self.host_id is not None and topic == SpTopics.state(self.host_id):
            return self._host_state(data)
        if topic == self.topics.node("NCMD"):
            return await self._ncmd(data, commands)
        prefix = self.topics.device("DCMD", "")
        if topic.startswith(prefix):
            return await self._dcmd(topic[len(prefix) :], data, commands)
        return []

    def goodbye(self) -> list[Outgoing]:
        return [Outgoing(self.topics.node("NDEATH"), self._ndeath(), qos=1)]

    # -- inside ------------------------------------------------------------------------

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq = (self._seq + 1) % 256
        return seq

    def _ndeath(self) -> bytes:
        return sp.payload(now_ms(), None, [(BD_SEQ, Value(INT64, self.bd_seq, now_ms()))])

    def _node(self, kind: str, metrics: list[tuple[str, Value]], qos: int) -> Outgoing:
        data = sp.payload(now_ms(), self._next_seq(), metrics)
        return Outgoing(self.topics.node(kind), data, qos=qos)

    def _device(
        self, kind: str, device: str, metrics: list[tuple[str, Value]], qos: int
    ) -> Outgoing:
        data = sp.payload(now_ms(), self._next_seq(), metrics)
        return Outgoing(self.topics.device(kind, device), data, qos=qos)

    def _dbirth(self, device: str) -> Outgoing:
        ts = now_ms()
        last = self._last.get(device, {})
        metrics: list[tuple[str, Value]] = []
        for name, meta in sorted(self.points.get(device, {}).items()):
            props: list[tuple[str, int, Any]] = []
            if meta.unit:
                props.append(("engUnit", STRING, meta.unit))
            if meta.quantity:
                props.append(("quantity", STRING, meta.quantity))
            if math.isfinite(meta.range_lo) and math.isfinite(meta.range_hi):
                props += [("engLow", DOUBLE, meta.range_lo), ("engHigh", DOUBLE, meta.range_hi)]
            seen = last.get(name)
            value, at = (seen.value, seen.ts_ms) if seen is not None else (None, ts)
            extra = seen.props if seen is not None else ()
            quality = tuple(p for p in extra if p[0] in ("Quality", "reason"))
            metrics.append((name, Value(DOUBLE, value, at, (*props, *quality))))
        active = self._active_of(device)
        for slot in [*sorted(self.points.get(device, {})), DEVICE_ALARMS]:
            metrics += self._alarm_slots(slot, ts, active)
        self._born.add(device)
        self._dead.discard(device)
        return self._device("DBIRTH", device, metrics, qos=0)

    def _active_of(self, device: str | None) -> dict[str, AlarmTransition]:
        """The latest active alarm per point slot of a device (None: the gateway's)."""
        out: dict[str, AlarmTransition] = {}
        for t in self.store.active_alarms():
            if device is None:
                if t.device in self.points or t.device in self._last:
                    continue
                key = NODE_ALARMS
            elif t.device == device:
                key = t.point
            else:
                continue
            if key not in out or out[key].ts_ms <= t.ts_ms:
                out[key] = t
        return out

    def _alarm_slots(
        self, slot: str, ts: int, active: dict[str, AlarmTransition]
    ) -> list[tuple[str, Value]]:
        t = active.get(slot)
        if t is not None:
            values = _alarm_values(alarm_event(t, self.cfg.gateway.id), t.ts_ms)
        else:
            values = {f: Value(dt, None, ts) for f, dt in ALARM_FIELDS.items()}
        return [(sp.alarm_metric_name(slot, f), v) for f, v in values.items()]

    def _host_state(self, data: bytes) -> list[Outgoing]:
        try:
            online = bool(json.loads(data).get("online"))
        except (ValueError, AttributeError):
            log.warning("sparkplug STATE not understood host=%s", self.host_id)
            return []
        was = self._host_online
        self._host_online = online
        if was and not online:
            log.warning("sparkplug primary host offline host=%s: disconnecting", self.host_id)
            raise SessionEndError(
                f"primary host {self.host_id} went offline", farewell=self.goodbye()
            )
        return []

    async def _ncmd(self, data: bytes, commands: CommandHandler) -> list[Outgoing]:
        try:
            msg = sp.parse(data)
        except ValueError as err:
            log.warning("sparkplug NCMD refused reason=%s", err)
            return []
        out: list[Outgoing] = []
        for m in msg.metrics:
            if m.name == REBIRTH and m.boolean_value:
                log.info("sparkplug rebirth requested")
                out += self.birth()
            elif m.name.startswith(sp.COMMAND_PREFIX) and m.WhichOneof("value") == "string_value":
                name = m.name[len(sp.COMMAND_PREFIX) :]
                reply = await commands(name, m.string_value.encode())
                if reply is not None:
                    text = json.dumps(reply, separators=(",", ":"))
                    metric = (
                        sp.COMMAND_PREFIX + name + sp.REPLY_SUFFIX,
                        Value(STRING, text, now_ms()),
                    )
                    out.append(self._node("NDATA", [metric], qos=1))
        return out

    async def _dcmd(self, device: str, data: bytes, commands: CommandHandler) -> list[Outgoing]:
        """DCMD: a metric named after a point of the device, with a number or boolean,
        is the `write` command on `device/point` (allow-listed, and refused when commands
        must be signed: a DCMD carries no signature). The written value comes back in the
        device's DDATA when it is next polled; the outcome is an action event."""
        try:
            msg = sp.parse(data)
        except ValueError as err:
            log.warning("sparkplug DCMD refused device=%s reason=%s", device, err)
            return []
        for m in msg.metrics:
            kind = m.WhichOneof("value")
            if kind not in ("double_value", "float_value", "int_value", "long_value",
                            "boolean_value"):  # fmt: skip
                log.warning("sparkplug DCMD metric without a value device=%s metric=%s",
                            device, m.name)  # fmt: skip
                continue
            value = float(getattr(m, kind))
            request = {"id": f"dcmd-{now_ms()}", "args": {"point": f"{device}/{m.name}",
                                                        "value": value}}  # fmt: skip
            reply = await commands("write", json.dumps(request).encode())
            if reply is not None and not reply.get("ok"):
                log.warning("sparkplug DCMD write refused point=%s/%s error=%s",
                            device, m.name, reply.get("error"))  # fmt: skip
        return []


def _alarm_values(event: Json, ts: int) -> dict[str, Value]:
    return {f: Value(dt, event.get(f), ts) for f, dt in ALARM_FIELDS.items()}
