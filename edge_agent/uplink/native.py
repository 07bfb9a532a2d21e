"""The edge-agent dialect (`[mqtt] api = "edge-agent"`): the topics and payloads of
PRODUCT.md "MQTT API" and docs/asyncapi.yaml, JSON or msgpack."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

from edge_agent.clock import now_ms
from edge_agent.config import GatewayConfig
from edge_agent.records import Json
from edge_agent.store import OutboxRow, Store
from edge_agent.uplink import payloads
from edge_agent.uplink.client import LastWill
from edge_agent.uplink.dialect import CommandHandler, Outgoing
from edge_agent.uplink.topics import Topics

log = logging.getLogger(__name__)

# The retained status carries the buffer's seq high-water mark: a gateway that lost both
# its buffer and the mark file beside it continues this far above the mark it finds there
# (drain.Uplink._seq_past_retained_status), and the status is refreshed before seq has
# moved half that far.
RETAINED_MARGIN = 1_000_000


class NativeDialect:
    name = "edge-agent"

    def __init__(self, cfg: GatewayConfig, store: Store, version: str) -> None:
        self.cfg = cfg
        self.store = store
        self.version = version
        self.gateway = cfg.gateway.id
        self.topics = Topics.build(cfg.mqtt.topic_prefix, cfg.gateway.site, cfg.gateway.id)
        self.encoder = payloads.Encoder(cfg.mqtt.payload)
        self.mark_topic: str | None = self.topics.status
        self.status_mark = 0  # the seq mark in the last status published

    def _status(self, state: Literal["online", "offline"]) -> bytes:
        self.status_mark = self.store.mark.value
        return self.encoder.encode(payloads.status(state, now_ms(), self.version, self.status_mark))

    def will(self) -> LastWill:
        return LastWill(self.topics.status, self._status("offline"))

    def subscriptions(self) -> Sequence[str]:
        return (self.topics.commands,)

    @property
    def waiting(self) -> bool:
        return False

    def birth(self) -> list[Outgoing]:
        online = Outgoing(self.topics.status, self._status("online"), qos=1, retain=True)
        return [online, *self.after_alarms()]

    def telemetry(self, row: OutboxRow) -> list[Outgoing]:
        data = self.encoder.telemetry(row.seq, row.gateway, row.device, row.body)
        return [Outgoing(self.topics.telemetry(row.device), data, self.cfg.mqtt.telemetry_qos)]

    def alarm(self, row: OutboxRow) -> list[Outgoing]:
        if row.alarm is not None:
            data = self.encoder.alarm(row.seq, row.alarm, row.gateway)
        else:
            data = self.encoder.stored_alarm(row.seq, row.body)
        return [Outgoing(self.topics.alarm(row.device, row.point or ""), data)]

    def action(self, row: OutboxRow) -> list[Outgoing]:
        assert row.action is not None  # encode_row passes only rows with their decision
        data = self.encoder.action(row.seq, row.action, row.gateway)
        return [Outgoing(self.topics.action(row.device, row.point or ""), data)]

    def after_alarms(self) -> list[Outgoing]:
        snap = payloads.alarms_snapshot(self.store.active_alarms(), self.gateway, now_ms())
        return [Outgoing(self.topics.alarms, self.encoder.encode(snap), qos=1, retain=True)]

    def health(self, health: Json) -> list[Outgoing]:
        out = [Outgoing(self.topics.health, self.encoder.encode(health), qos=0)]
        if self.store.mark.value - self.status_mark > RETAINED_MARGIN // 2:
            out.append(Outgoing(self.topics.status, self._status("online"), qos=1, retain=True))
        return out

    async def incoming(self, topic: str, data: bytes, commands: CommandHandler) -> list[Outgoing]:
        name = self.topics.command_name(topic)
        if name is None:
            return []
        try:
            reply = await commands(name, data)
        except Exception as err:  # a handler bug must not end the session
            log.exception("command failed name=%s", name)
            reply = {"id": None, "ok": False, "error": f"internal error: {err}"}
        if reply is None:
            return []
        return [Outgoing(self.topics.reply(name), self.encoder.encode(reply))]

    def goodbye(self) -> list[Outgoing]:
        return [Outgoing(self.topics.status, self._status("offline"), qos=1, retain=True)]
