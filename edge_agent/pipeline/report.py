"""Which readings become telemetry (PRODUCT.md "Telemetry reporting").

The filter sits between detection and the store, so the outbox only ever holds what is
reported: detection has already seen every poll, the local history (`readings`) still
gets every reading, and a metered link carries only what the policy lets through.

Per device (defaults from `[gateway]`):

- `report = "every-poll"`: every reading of every poll.
- `report = "on-change"`: a reading whose value moved more than its `deadband` away from
  the value last *reported* for that point (so a slow drift is reported once it has
  added up), the first reading of a point, and any reading whose quality (or bad-quality
  reason) differs from the last one reported: a quality change is never held back.
- `report_interval_s > 0`: what the mode chose is collected and sent as one message
  every interval; a quality change sends the collected batch at once.

A deadband is looked up as: the device's `deadband[point]`, the device's
`deadband[quantity]`, the gateway's `deadband["device/point"]`, the gateway's
`deadband[quantity]`, else 0 (any change is reported).

A batch held for its interval lives in memory: a crash loses at most one interval of
unreported telemetry, which the local history keeps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from edge_agent.config import DeviceConfig, GatewaySection
from edge_agent.config.report import ReportMode
from edge_agent.records import DevicePoll, Reading
from rules.events import PointMeta


@dataclass(frozen=True, slots=True)
class ReportPolicy:
    mode: ReportMode = "every-poll"
    interval_ms: int = 0
    deadband: Mapping[str, float] = field(default_factory=dict)  # point name -> deadband

    def band(self, point: str) -> float:
        return self.deadband.get(point, 0.0)


EVERY_POLL = ReportPolicy()


def report_policies(
    gateway: GatewaySection, devices: Iterable[DeviceConfig], points: Iterable[PointMeta]
) -> dict[str, ReportPolicy]:
    """The policy of every device, with each point's deadband resolved."""
    by_device: dict[str, list[PointMeta]] = {}
    for m in points:
        by_device.setdefault(m.device, []).append(m)
    out: dict[str, ReportPolicy] = {}
    for d in devices:
        bands: dict[str, float] = {}
        for m in by_device.get(d.name, []):
            for table, key in (
                (d.deadband, m.point),
                (d.deadband, m.quantity),
                (gateway.deadband, m.key),
                (gateway.deadband, m.quantity),
            ):
                if key in table:
                    bands[m.point] = table[key]
                    break
        interval_s = d.report_interval_s
        if interval_s is None:
            interval_s = gateway.report_interval_s
        out[d.name] = ReportPolicy(
            mode=d.report or gateway.report,
            interval_ms=round(interval_s * 1000),
            deadband=bands,
        )
    return out


@dataclass
class _Batch:
    started_ms: int
    readings: list[Reading]


class Reporter:
    """Chooses, poll by poll, the readings that go to the outbox."""

    def __init__(self, policies: Mapping[str, ReportPolicy]) -> None:
        self.policies = dict(policies)
        self._last: dict[str, Reading] = {}  # key -> last reported reading
        self._batches: dict[str, _Batch] = {}
        self.counters = {"polled": 0, "reported": 0}

    def take(self, poll: DevicePoll) -> list[Reading]:
        """The readings to report now for this poll (possibly with held ones before them)."""
        policy = self.policies.get(poll.device, EVERY_POLL)
        chosen: list[Reading] = []
        urgent = False
        for r in poll.readings:
            last = self._last.get(r.key)
            quality_changed = last is None or (last.quality, last.reason) != (r.quality, r.reason)
            if policy.mode == "every-poll" or quality_changed or _moved(last, r, policy):
                chosen.append(r)
                self._last[r.key] = r
                urgent = urgent or (last is not None and quality_changed)
        self.counters["polled"] += len(poll.readings)
        if policy.interval_ms <= 0:
            self.counters["reported"] += len(chosen)
            return chosen
        batch = self._batches.get(poll.device)
        if batch is None:
            if not chosen:
                return []
            batch = self._batches[poll.device] = _Batch(poll.ts_ms, [])
        batch.readings += chosen
        if urgent or poll.ts_ms - batch.started_ms >= policy.interval_ms:
            return self._release(poll.device)
        return []

    def due(self, ts_ms: int) -> dict[str, list[Reading]]:
        """Batches whose interval has passed with no poll to carry them (a slow device)."""
        out: dict[str, list[Reading]] = {}
        for device, batch in list(self._batches.items()):
            interval = self.policies.get(device, EVERY_POLL).interval_ms
            if ts_ms - batch.started_ms >= interval:
                out[device] = self._release(device)
        return out

    def drain(self) -> dict[str, list[Reading]]:
        """Every held batch (at stop)."""
        return {device: self._release(device) for device in list(self._batches)}

    def _release(self, device: str) -> list[Reading]:
        batch = self._batches.pop(device)
        self.counters["reported"] += len(batch.readings)
        return batch.readings


def _moved(last: Reading | None, r: Reading, policy: ReportPolicy) -> bool:
    if last is None:
        return True
    if r.quality == "bad" or math.isnan(r.value):
        return False  # a bad reading is reported when its quality or reason changes
    if math.isnan(last.value):
        return True
    return abs(r.value - last.value) > policy.band(r.point)
