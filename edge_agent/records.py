"""Immutable records passed between the pipeline's stages. `Quality` is the drivers'
"good" / "bad" / "uncertain" (one definition, plain strings: no conversion per reading)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from drivers.base import Quality
from rules.events import AlarmState, AlarmTransition, Evidence, Member

__all__ = [
    "ActionEvent",
    "ActionState",
    "AlarmState",
    "AlarmTransition",
    "DevicePoll",
    "Evidence",
    "Json",
    "Member",
    "Quality",
    "Reading",
    "finite",
]

# A JSON object as the parts hand it around: payloads, replies, status documents.
Json = dict[str, Any]


def finite(x: float | None) -> float | None:
    """NaN and ±inf are not values a record keeps or a payload carries: they become None
    (NULL in SQLite, null in JSON)."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one point at one time. A fault is data: bad quality with a reason.

    `ts_ms` is wall time, for the record; `rule_ms` the monotonic rule time of the same
    moment (edge_agent.clock), for detection. A reading from elsewhere (a test, a
    replay) without a rule time is detected on its `ts_ms`."""

    device: str
    point: str
    ts_ms: int
    value: float
    quality: Quality
    reason: str | None = None
    rule_ms: int | None = None

    @property
    def key(self) -> str:
        return f"{self.device}/{self.point}"

    @property
    def rule_ts_ms(self) -> int:
        """The time detection runs on: the rule time, else the wall time."""
        return self.ts_ms if self.rule_ms is None else self.rule_ms

    @property
    def usable(self) -> bool:
        return self.quality != "bad" and not math.isnan(self.value)


@dataclass(frozen=True, slots=True)
class DevicePoll:
    """Everything one poll of one device produced: the unit of telemetry batching."""

    device: str
    ts_ms: int
    readings: tuple[Reading, ...]
    ok: bool
    reason: str | None = None
    # "offline" when this poll made the device count as offline, "online" when it is back.
    link: Literal["offline", "online"] | None = None


class ActionState(StrEnum):
    """What became of one decided write. `pending` is the gateway's own note that a
    write is under way (kept in the store, never published): after a crash it is
    settled by reading the point back."""

    DONE = "done"
    FAILED = "failed"
    BLOCKED = "blocked"
    DRY_RUN = "dry-run"
    PENDING = "pending"


# The `action` of a write an operator asked for (`write` command, `edge-agent write`).
COMMAND_ACTION = "command"


@dataclass(frozen=True, slots=True)
class ActionEvent:
    """One decision about one write: an action of a rule file (or an operator's
    command) on one target point, for one alarm (`alarm_id`, None for a command)."""

    event_id: str
    ts_ms: int
    device: str
    point: str
    action: str
    alarm_id: str | None
    value: float
    state: ActionState
    reason: str | None = None
    read_back: float | None = None

    @property
    def key(self) -> str:
        return f"{self.device}/{self.point}"
