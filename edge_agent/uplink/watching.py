"""What a platform receives, read back from any dialect: for the demo's platform view and
the reporting benchmark (the uplink alone knows the wire formats)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from edge_agent.config import GatewayConfig
from edge_agent.records import Json
from edge_agent.uplink import payloads
from edge_agent.uplink.client import watch_raw
from edge_agent.uplink.sparkplug import payload as sp
from edge_agent.uplink.sparkplug.payload import NAMESPACE


def topic_filter(cfg: GatewayConfig) -> str:
    """Everything the gateway publishes, in its dialect."""
    if cfg.mqtt.api == "sparkplug-b":
        return f"{NAMESPACE}/{cfg.mqtt.sparkplug.group_id or cfg.gateway.site}/#"
    if cfg.mqtt.api == "thingsboard":
        return "v1/#"
    return f"{cfg.root_topic}/#"


def alarm_events(cfg: GatewayConfig, topic: str, raw: bytes) -> list[Json]:
    """The alarm events in one message, as edge-agent alarm events (`device`, `point`,
    `state`, `level`, `value`, `id`, `ts`, and `seq` where the dialect has it)."""
    if not raw:
        return []
    if cfg.mqtt.api == "sparkplug-b":
        return _sparkplug_alarms(topic, raw)
    if cfg.mqtt.api == "thingsboard":
        return _thingsboard_alarms(topic, raw)
    if "/alarm/" not in topic:
        return []
    event = payloads.decode(raw, cfg.mqtt.payload)
    return [event] if isinstance(event, dict) else []


def _sparkplug_alarms(topic: str, raw: bytes) -> list[Json]:
    parts = topic.split("/")
    if len(parts) != 5 or parts[2] != "DDATA":
        return []
    events: dict[str, Json] = {}
    for m in sp.parse(raw).metrics:
        if not m.name.startswith("Alarm/"):
            continue
        _, point, field = m.name.split("/", 2)
        kind = m.WhichOneof("value")
        value: Any = None if m.is_null or kind is None else getattr(m, kind)
        if field == "level" and isinstance(value, int) and value >= 1 << 31:
            value -= 1 << 32
        event = events.setdefault(point, {"device": parts[4], "point": point, "ts": m.timestamp})
        event[field] = value
    return list(events.values())


def _thingsboard_alarms(topic: str, raw: bytes) -> list[Json]:
    if topic != "v1/gateway/telemetry":
        return []
    out: list[Json] = []
    for device, entries in json.loads(raw).items():
        for entry in entries:
            values = entry.get("values", {})
            if "alarm_id" in values:
                event = {k.removeprefix("alarm_"): v for k, v in values.items()}
                out.append({"device": device, "ts": entry.get("ts"), **event})
    return out


async def watch_alarms(cfg: GatewayConfig, host: str, port: int) -> AsyncIterator[Json]:
    """Alarm events as a platform subscribed to the gateway's dialect receives them."""
    async for topic, raw in watch_raw(host, port, topic_filter(cfg)):
        for event in alarm_events(cfg, topic, raw):
            yield event
