"""Fan-out of live readings and alarm events to `edge-agent tail` clients.

The pipeline calls `hub.publish_reading(...)` / `hub.publish_alarm(...)` for
everything it processes; the control server serves `hub.subscribe` as the
`tail` stream. Publishing never blocks and never fails: each subscriber has a
bounded queue, and a client too slow to keep up loses items (it is told how
many) rather than slowing the poller. With no subscriber, publishing costs one
check.
"""

from __future__ import annotations

import asyncio
import fnmatch
import math
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from edge_agent.control.protocol import Params
from edge_agent.ops.errors import OpError
from edge_agent.records import AlarmTransition, Reading

QUEUE_SIZE = 1000
MAX_PATTERNS = 100


def reading_item(r: Reading, unit: str | None = None) -> dict[str, Any]:
    """A reading as a `tail` stream item (docs/cli.md)."""
    return {
        "type": "reading",
        "ts_ms": r.ts_ms,
        "device": r.device,
        "point": r.point,
        "value": r.value if math.isfinite(r.value) else None,
        "unit": unit,
        "quality": r.quality,
        "reason": r.reason,
    }


def alarm_item(t: AlarmTransition) -> dict[str, Any]:
    """An alarm transition as a `tail` stream item, fields as in the MQTT alarm event."""
    return {
        "type": "alarm",
        "ts_ms": t.ts_ms,
        "id": t.alarm_id,
        "device": t.device,
        "point": t.point,
        "rule": t.rule,
        "kind": t.kind,
        "level": t.level,
        "state": str(t.state),
        "value": t.value,
        "limit": t.limit,
        "unit": t.unit,
        "eta_s": t.eta_s,
        "evidence": None if t.evidence is None else t.evidence.to_dict(),
    }


@dataclass(eq=False)
class _Subscriber:
    match: re.Pattern[str] | None  # None: every point
    alarms: bool
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: int = 0

    def wants(self, item: dict[str, Any]) -> bool:
        if item["type"] == "alarm" and not self.alarms:
            return False
        return self.match is None or bool(self.match.match(f"{item['device']}/{item['point']}"))


def _compile(patterns: list[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def parse_params(params: Params) -> tuple[list[str], bool]:
    """Check a `tail` request: params come from any client, so trust nothing."""
    points = params.get("points", [])
    alarms = params.get("alarms", True)
    if not isinstance(points, list) or not all(isinstance(p, str) and p for p in points):
        raise OpError("tail: 'points' must be a list of device/point globs")
    if len(points) > MAX_PATTERNS:
        raise OpError(f"tail: at most {MAX_PATTERNS} point patterns")
    if not isinstance(alarms, bool):
        raise OpError("tail: 'alarms' must be true or false")
    return [p if "/" in p else f"{p}/*" for p in points], alarms


class TailHub:
    def __init__(self) -> None:
        self._subs: set[_Subscriber] = set()

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, item: dict[str, Any]) -> None:
        if not self._subs:
            return
        for sub in self._subs:
            if not sub.wants(item):
                continue
            q = sub.queue
            if sub.dropped and q.qsize() <= q.maxsize - 2:
                # Mark the gap where it is, so a loss is never silent.
                q.put_nowait({"type": "dropped", "count": sub.dropped})
                sub.dropped = 0
            try:
                q.put_nowait(item)
            except asyncio.QueueFull:
                sub.dropped += 1

    def publish_reading(self, r: Reading, unit: str | None = None) -> None:
        if self._subs:
            self.publish(reading_item(r, unit))

    def publish_alarm(self, t: AlarmTransition) -> None:
        if self._subs:
            self.publish(alarm_item(t))

    async def subscribe(self, params: Params) -> AsyncGenerator[dict[str, Any], None]:
        """The `tail` stream handler: items until the client goes away."""
        points, alarms = parse_params(params)
        sub = _Subscriber(_compile(points), alarms)
        self._subs.add(sub)
        try:
            while True:
                yield await sub.queue.get()
        finally:
            self._subs.discard(sub)
