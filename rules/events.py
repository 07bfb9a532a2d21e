"""What the rule engine emits, and what it needs to know about a point."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class AlarmState(StrEnum):
    RAISED = "raised"
    LEVEL_CHANGED = "level-changed"
    CLEARED = "cleared"
    ACKED = "acked"


@dataclass(frozen=True, slots=True)
class PointMeta:
    """A bound point as detection sees it: `key` is `device/point`."""

    device: str
    point: str
    quantity: str
    unit: str
    range_lo: float = float("-inf")
    range_hi: float = float("inf")
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.device}/{self.point}"


@dataclass(frozen=True, slots=True)
class AlarmTransition:
    """One step of one alarm's life. `alarm_id` names the alarm from raised to cleared."""

    alarm_id: str
    ts_ms: int
    device: str
    point: str
    rule: str
    kind: str
    level: int
    state: AlarmState
    value: float
    limit: float
    unit: str
    eta_s: float | None = None
