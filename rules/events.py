"""What the rule engine emits, and what it needs to know about a point."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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
    # seconds between readings (the device's poll_interval_s; a backtest's median step);
    # None when unknown. Windows scale with it or refuse it (rules.sampling).
    poll_s: float | None = None

    @property
    def key(self) -> str:
        return f"{self.device}/{self.point}"


def _num(x: float | None) -> float | None:
    """A number evidence may carry: NaN and ±inf become None."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


@dataclass(frozen=True, slots=True)
class Member:
    """A member of a composite alarm, as it stood when the composite decided."""

    device: str
    point: str
    rule: str
    ts_ms: int
    value: float | None = None
    delta: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "point": self.point, "rule": self.rule,
                "ts": self.ts_ms, "value": _num(self.value), "delta": _num(self.delta)}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Member:
        return cls(str(d["device"]), str(d["point"]), str(d["rule"]), int(d["ts"]),
                   _num(d.get("value")), _num(d.get("delta")))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why an alarm was raised or changed level (PRODUCT.md "Alarm evidence").

    `window_s` is the span the decision looked at, `baseline` what the value was compared
    with (a threshold's limit, a rate's value at the window's reference, a trend's fit, a
    night baseline), `delta` the change or excess that decided (value - baseline for the
    sample kinds), `slope` per second, `eta_s` the predicted time to the limit, `members`
    the composite's member alarms, `note` a short word when the rule could not fully
    assess (e.g. "cold start: fixed limits"). Every number is finite or None.
    """

    window_s: float | None = None
    baseline: float | None = None
    delta: float | None = None
    slope: float | None = None
    eta_s: float | None = None
    members: tuple[Member, ...] = ()
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (the store keeps it; the uplink encodes it)."""
        out: dict[str, Any] = {
            "window_s": _num(self.window_s), "baseline": _num(self.baseline),
            "delta": _num(self.delta), "slope": _num(self.slope), "eta_s": _num(self.eta_s),
        }  # fmt: skip
        if self.members:
            out["members"] = [m.to_dict() for m in self.members]
        if self.note:
            out["note"] = self.note
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evidence:
        return cls(
            window_s=_num(d.get("window_s")), baseline=_num(d.get("baseline")),
            delta=_num(d.get("delta")), slope=_num(d.get("slope")), eta_s=_num(d.get("eta_s")),
            members=tuple(Member.from_dict(m) for m in d.get("members") or ()),
            note=d.get("note"),
        )  # fmt: skip

    @classmethod
    def of(
        cls, window_s: float | None = None, baseline: float | None = None,
        delta: float | None = None, slope: float | None = None, eta_s: float | None = None,
        note: str | None = None,
    ) -> Evidence:  # fmt: skip
        """Evidence with non-finite numbers as None (kernels output NaN for 'none')."""
        return cls(_num(window_s), _num(baseline), _num(delta), _num(slope), _num(eta_s),
                   note=note)  # fmt: skip


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
    # why (raised and level-changed transitions; None on cleared/acked and on old rows)
    evidence: Evidence | None = None
