"""Immutable records passed between the pipeline's stages."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from rules.events import AlarmState, AlarmTransition, Evidence, Member

__all__ = [
    "AlarmState", "AlarmTransition", "DevicePoll", "Evidence", "Json", "Member", "Quality",
    "Reading", "finite",
]  # fmt: skip

# A JSON object as the parts hand it around: payloads, replies, status documents.
Json = dict[str, Any]


def finite(x: float | None) -> float | None:
    """NaN and ±inf are not values a record keeps or a payload carries: they become None
    (NULL in SQLite, null in JSON)."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


class Quality(StrEnum):
    GOOD = "good"
    BAD = "bad"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one point at one time. A fault is data: bad quality with a reason."""

    device: str
    point: str
    ts_ms: int
    value: float
    quality: Quality
    reason: str | None = None

    @property
    def key(self) -> str:
        return f"{self.device}/{self.point}"

    @property
    def usable(self) -> bool:
        return self.quality is not Quality.BAD and not math.isnan(self.value)


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
