"""Scheduling helpers for pollers: deadlines that skip missed ticks, per-device backoff.

Pure (time is passed in as monotonic seconds), so a poller's decisions are testable
without sleeping. How they fit together, per device task:

    ticker = Ticker(interval_s, start=now)
    health = DeviceHealth(interval_s)
    while True:
        await sleep_until(health.next_poll(ticker, now))
        values = await read_device(bus, unit, plan, profile)
        change = health.record(values, now)   # "offline" / "online" / None
        bus.overruns += ticker.overruns_since_last()

Fairness between devices of one bus comes from `BusLine`: its turns are FIFO and taken
per transaction, so devices waiting for the line take turns request by request, and
`read_device` gives up on a silent device after its first timeout. Backoff keeps an
offline device to one probe (one request, one timeout) per backoff period.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from drivers.base import PointValue

# Reasons that mean "nobody answered": the device (or the line) is unreachable.
# An exception reply or an out-of-range value means the device is alive.
TRANSPORT_REASONS = frozenset({"timeout", "bus closed", "frame error"})

Change = Literal["offline", "online"]


def poll_failure(values: Sequence[PointValue]) -> str | None:
    """The transport reason when a poll reached nothing at all, else None."""
    if not values:
        return None
    reasons = {v.reason for v in values}
    if all(v.quality == "bad" for v in values) and reasons <= TRANSPORT_REASONS:
        # Prefer the reason of the first request: later ones were not even tried.
        return values[0].reason
    return None


class Ticker:
    """Deadlines every `interval_s` from `start`, skipping ticks that were missed.

    Never drifts (`next += interval`) and never bursts to catch up: a late poll moves
    on to the next deadline still in the future and counts the skipped ones, which is
    the bus overrun the health report shows.
    """

    def __init__(self, interval_s: float, start: float) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.interval_s = interval_s
        self.due = start
        self.overruns = 0
        self._reported = 0

    def advance(self, now: float) -> float:
        """The next deadline after a poll that finished at `now`."""
        self.due += self.interval_s
        if self.due <= now:
            missed = math.floor((now - self.due) / self.interval_s) + 1
            self.overruns += missed
            self.due += missed * self.interval_s
        return self.due

    def overruns_since_last(self) -> int:
        n = self.overruns - self._reported
        self._reported = self.overruns
        return n


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """When a device counts as offline, and how often it is probed then."""

    offline_after: int = 3  # failed polls in a row
    first_probe_s: float = 5.0  # never less than the poll interval
    factor: float = 2.0
    max_probe_s: float = 300.0


class DeviceHealth:
    """Per-device circuit breaker: online -> offline after N failed polls -> probed with
    exponential backoff -> online again on the first answer.

    `record` returns the change, once per episode, for the log and the device alarm.
    """

    def __init__(self, poll_interval_s: float, policy: BackoffPolicy | None = None) -> None:
        self.poll_interval_s = poll_interval_s
        self.policy = policy or BackoffPolicy()
        self.online = True
        self.failures_in_row = 0
        self.reason: str | None = None
        self.probe_s = 0.0
        self.polls = 0
        self.failed_polls = 0

    def record(self, values: Sequence[PointValue]) -> Change | None:
        self.polls += 1
        reason = poll_failure(values)
        if reason is None:
            self.failures_in_row = 0
            self.reason = None
            if not self.online:
                self.online = True
                self.probe_s = 0.0
                return "online"
            return None
        self.failed_polls += 1
        self.failures_in_row += 1
        self.reason = reason
        if self.online and self.failures_in_row >= self.policy.offline_after:
            self.online = False
            self.probe_s = max(self.policy.first_probe_s, self.poll_interval_s)
            return "offline"
        if not self.online:
            self.probe_s = min(self.probe_s * self.policy.factor, self.policy.max_probe_s)
            self.probe_s = max(self.probe_s, self.poll_interval_s)
        return None

    def next_poll(self, ticker: Ticker, now: float) -> float:
        """When to poll next: the ticker's deadline, or the probe time while offline."""
        due = ticker.advance(now)
        if self.online:
            return due
        # Offline: wait the backoff, then re-align with the ticker's grid.
        probe_at = now + self.probe_s
        while ticker.due < probe_at:
            ticker.due += ticker.interval_s
        return ticker.due
