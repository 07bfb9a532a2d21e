"""The ThingsBoard dialect (`[mqtt] api = "thingsboard"`): ThingsBoard's gateway MQTT API.

The gateway is a ThingsBoard gateway device (its access token as `[mqtt] username`);
each configured device is a device behind it, named as in gateway.toml.

Connected: `v1/gateway/connect` per device and its attributes; telemetry and alarm
events on `v1/gateway/telemetry` (alarms also as attributes a rule chain can match);
RPC on `v1/gateway/rpc` (a device's) and `v1/devices/me/rpc/request/+` (the
gateway's); health as the gateway's own telemetry. The message shapes, topic by
topic, are in docs/thingsboard.md.

An RPC's `method` is the command name and `params` its arguments (a `read` on a
device may name just the point); params of the form `{"id", "args", "ts", "sig"}` are
taken as a whole edge-agent request (for signed commands). The reply's `data` is the
edge-agent reply `{"id", "ok", "result"|"error"}`. ThingsBoard keeps one value per
key and timestamp, so a message sent twice after a reconnect changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from edge_agent.clock import now_ms
from edge_agent.config import GatewayConfig
from edge_agent.records import Json
from edge_agent.store import OutboxRow, Store
from edge_agent.uplink.client import LastWill
from edge_agent.uplink.dialect import CommandHandler, Outgoing
from edge_agent.uplink.payloads import action_event, alarm_event, dumps
from rules.events import PointMeta

log = logging.getLogger(__name__)

CONNECT = "v1/gateway/connect"
DISCONNECT = "v1/gateway/disconnect"
TELEMETRY = "v1/gateway/telemetry"
ATTRIBUTES = "v1/gateway/attributes"
RPC = "v1/gateway/rpc"
ME_ATTRIBUTES = "v1/devices/me/attributes"
ME_TELEMETRY = "v1/devices/me/telemetry"
ME_RPC_REQUEST = "v1/devices/me/rpc/request/"
ME_RPC_RESPONSE = "v1/devices/me/rpc/response/"

ALARM_KEYS = ("id", "point", "rule", "kind", "level", "state", "value", "limit", "unit",
              "eta_s", "evidence")  # fmt: skip


def _json(obj: Any) -> bytes:
    return dumps(obj).encode()


class ThingsboardDialect:
    name = "thingsboard"
    mark_topic: str | None = None  # no retained status to keep a seq mark in

    def __init__(
        self, cfg: GatewayConfig, store: Store, version: str, points: Sequence[PointMeta] = ()
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.version = version
        self.devices = {d.name: d for d in cfg.devices if d.enabled}
        self._quality: dict[str, str] = {}  # device/point -> last quality sent ("good" unsent)

    def will(self) -> LastWill:
        return LastWill(ME_ATTRIBUTES, _json({"edgeAgentOnline": False}), qos=1, retain=False)

    def subscriptions(self) -> Sequence[str]:
        return (RPC, ME_RPC_REQUEST + "+")

    @property
    def waiting(self) -> bool:
        return False

    def birth(self) -> list[Outgoing]:
        out = [
            Outgoing(CONNECT, _json({"device": d.name, "type": d.profile}))
            for d in self.devices.values()
        ]
        if self.devices:
            attrs = {
                d.name: {"gateway": self.cfg.gateway.id, "site": self.cfg.gateway.site,
                         "profile": d.profile, "bus": d.bus, "unit": d.unit, **d.tags}
                for d in self.devices.values()
            }  # fmt: skip
            out.append(Outgoing(ATTRIBUTES, _json(attrs)))
        me = {"edgeAgentOnline": True, "edgeAgentVersion": self.version,
              "site": self.cfg.gateway.site}  # fmt: skip
        out.append(Outgoing(ME_ATTRIBUTES, _json(me)))
        return out

    def telemetry(self, row: OutboxRow) -> list[Outgoing]:
        readings: list[dict[str, Any]] = json.loads(f"[{row.body}]")
        by_ts: dict[int, dict[str, Any]] = {}
        for r in readings:
            values = by_ts.setdefault(int(r["ts"]), {})
            point = str(r["point"])
            if r.get("value") is not None:
                values[point] = r["value"]
            quality = str(r.get("quality", "good"))
            key = f"{row.device}/{point}"
            if quality != self._quality.get(key, "good"):
                values[f"{point}_quality"] = quality
            if quality != "good":
                values[f"{point}_reason"] = r.get("reason") or "unknown"
            self._quality[key] = quality
        entries = [{"ts": ts, "values": v} for ts, v in sorted(by_ts.items()) if v]
        if not entries:
            return []
        return [Outgoing(TELEMETRY, _json({row.device: entries}), self.cfg.mqtt.telemetry_qos)]

    def alarm(self, row: OutboxRow) -> list[Outgoing]:
        event = alarm_event(row.alarm, row.gateway) if row.alarm else json.loads(row.body)
        values = {f"alarm_{k}": event[k] for k in ALARM_KEYS if event.get(k) is not None}
        if isinstance(values.get("alarm_evidence"), dict):
            values["alarm_evidence"] = dumps(values["alarm_evidence"])
        ts = int(event["ts"])
        device = str(event["device"])
        if device not in self.devices:  # the gateway's own alarm
            return [Outgoing(ME_TELEMETRY, _json({"ts": ts, "values": values}))]
        state = {"id": event["id"], "level": event["level"], "state": event["state"], "ts": ts}
        key = f"alarm_{event['point']}_{event['rule']}"
        return [
            Outgoing(TELEMETRY, _json({device: [{"ts": ts, "values": values}]})),
            Outgoing(ATTRIBUTES, _json({device: {key: state}})),
        ]

    def action(self, row: OutboxRow) -> list[Outgoing]:
        """An action event as telemetry of its device: `action_{point}_{field}` keys a
        rule chain can match (state done/failed/blocked/dry-run, value, action id...)."""
        assert row.action is not None  # encode_row passes only rows with their decision
        event = action_event(row.action, row.gateway)
        point = event["point"]
        values = {f"action_{point}_{k}": v for k, v in event.items()
                  if k not in ("gateway", "device", "point") and v is not None}  # fmt: skip
        body = {"ts": int(event["ts"]), "values": values}
        if event["device"] not in self.devices:
            return [Outgoing(ME_TELEMETRY, _json(body))]
        return [Outgoing(TELEMETRY, _json({event["device"]: [body]}))]

    def after_alarms(self) -> list[Outgoing]:
        return []

    def health(self, health: Json) -> list[Outgoing]:
        values = _flatten(health)
        return [Outgoing(ME_TELEMETRY, _json({"ts": now_ms(), "values": values}), qos=0)]

    async def incoming(self, topic: str, data: bytes, commands: CommandHandler) -> list[Outgoing]:
        try:
            msg = json.loads(data)
        except ValueError:
            log.warning("thingsboard message not JSON topic=%s", topic)
            return []
        if not isinstance(msg, dict):
            return []
        if topic == RPC:
            request = msg.get("data")
            device = msg.get("device")
            if not isinstance(request, dict) or "method" not in request:
                return []  # our own reply on the shared topic, or not an RPC
            reply = await self._call(request, commands, str(device))
            body = {"device": device, "id": request.get("id"), "data": reply}
            return [Outgoing(RPC, _json(body))]
        if topic.startswith(ME_RPC_REQUEST):
            reply = await self._call(msg, commands, None)
            return [Outgoing(ME_RPC_RESPONSE + topic[len(ME_RPC_REQUEST) :], _json(reply))]
        return []

    async def _call(self, request: Json, commands: CommandHandler, device: str | None) -> Json:
        method = str(request.get("method", ""))
        params = request.get("params")
        if isinstance(params, dict) and "id" in params and "args" in params:
            envelope: Json = params  # a whole (signed) edge-agent request
        else:
            args = dict(params) if isinstance(params, dict) else {}
            point = args.get("point")
            if device is not None and isinstance(point, str) and "/" not in point:
                args["point"] = f"{device}/{point}"  # a device's RPC may name just the point
            envelope = {"id": f"tb-{request.get('id', 'rpc')}", "args": args}
        reply = await commands(method, _json(envelope))
        return reply if reply is not None else {"ok": True}

    def goodbye(self) -> list[Outgoing]:
        out = [Outgoing(DISCONNECT, _json({"device": name})) for name in self.devices]
        out.append(Outgoing(ME_ATTRIBUTES, _json({"edgeAgentOnline": False})))
        return out


def _flatten(obj: Json, prefix: str = "") -> dict[str, Any]:
    """Nested health as flat ThingsBoard keys (`buffer.depth`), scalars only."""
    out: dict[str, Any] = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, str | int | float | bool):
            out[key] = v
    return out
