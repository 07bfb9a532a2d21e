"""What differs between the uplink dialects (`[mqtt] api`): topics and payloads.

The session (uplink.drain.Uplink) is one for every dialect: connect with the dialect's
last will, publish its birth, drain the outbox in `seq` order (a row deleted only after
the broker acknowledged every message made from it), answer what arrives, publish
health, say goodbye on a clean stop. A dialect only turns each of those moments into
messages:

| moment | method | edge-agent | sparkplug-b | thingsboard |
|---|---|---|---|---|
| connect | `will` | `status` offline | NDEATH (bdSeq) | attributes |
| connected | `subscriptions`, `birth` | `status`, `alarms` | NBIRTH, DBIRTHs | connects |
| outbox row | `telemetry`, `alarm`, `action` | the same names | DDATA (DBIRTH/DEATH) | telemetry |
| alarms sent | `after_alarms` | `alarms` snapshot | — | — |
| message in | `incoming` | `cmd/{name}` | NCMD, DCMD, STATE | RPC |
| clean stop | `goodbye` | `status` offline | NDEATH | disconnects |

A new event kind of the outbox (action events, say) is one more method here, one per
dialect. Every method is synchronous and returns the messages in the order they must
go out, so a dialect with its own sequence numbers (Sparkplug's `seq`) numbers them in
exactly the order the session hands them to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Protocol

from edge_agent.records import Json
from edge_agent.store import OutboxRow
from edge_agent.uplink.client import LastWill, LinkError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One MQTT message to publish."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


class CommandHandler(Protocol):
    def __call__(self, name: str, payload: bytes) -> Awaitable[Json | None]:
        """Handle command `name` (a request in the edge-agent shape, `{"id", "args"}`,
        in the configured payload format); return the reply (None: no reply)."""


class SessionEndError(LinkError):
    """A dialect asks the session to end (a Sparkplug primary host went offline), after
    publishing `farewell`."""

    def __init__(self, msg: str, farewell: Sequence[Outgoing] = ()) -> None:
        super().__init__(msg, "rejected")
        self.farewell = list(farewell)


class Dialect(Protocol):
    name: str
    # A retained topic whose payload carries `seq_mark` (the edge-agent `status`), read
    # at each connect so a gateway that lost its disk continues above it; None: none.
    mark_topic: str | None

    def will(self) -> LastWill:
        """The last will of the next connection attempt (called once per attempt)."""

    def subscriptions(self) -> Sequence[str]:
        """Topic filters to subscribe to once connected."""

    @property
    def waiting(self) -> bool:
        """Whether the birth must wait for a message to arrive first (a Sparkplug
        primary host's STATE); `incoming` sees it and this turns False."""

    def birth(self) -> list[Outgoing]:
        """What announces the gateway on a new connection."""

    def telemetry(self, row: OutboxRow) -> list[Outgoing]:
        """A telemetry row of the outbox (readings of one device)."""

    def alarm(self, row: OutboxRow) -> list[Outgoing]:
        """An alarm row of the outbox (one alarm event)."""

    def action(self, row: OutboxRow) -> list[Outgoing]:
        """An action row of the outbox (one decision about a write)."""

    def after_alarms(self) -> list[Outgoing]:
        """After alarm rows were acknowledged (a retained snapshot, say)."""

    def health(self, health: Json) -> list[Outgoing]:
        """The periodic health report."""

    async def incoming(self, topic: str, data: bytes, commands: CommandHandler) -> list[Outgoing]:
        """A message on a subscribed topic: commands and their replies, rebirth
        requests. Raises SessionEndError to end the session."""

    def goodbye(self) -> list[Outgoing]:
        """What a clean stop says before disconnecting."""


def encode_row(dialect: Dialect, row: OutboxRow) -> list[Outgoing]:
    """The messages of one outbox row, by its kind."""
    if row.kind == "alarm":
        return dialect.alarm(row)
    if row.kind == "action":
        if row.action is None:  # its decision was lost (never expected): nothing to say
            log.error("action event without its decision seq=%d", row.seq)
            return []
        return dialect.action(row)
    return dialect.telemetry(row)
