"""Per-device polling on monotonic deadlines. Faults become bad-quality readings, never crashes."""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field

from drivers.base import Bus, ReadRequest
from drivers.device import read_device
from drivers.planner import plan_reads
from drivers.profiles import Profile
from edge_agent.clock import now_ms, t_mono
from edge_agent.config import DeviceConfig
from edge_agent.logs import Episode
from edge_agent.records import DevicePoll, Quality, Reading

log = logging.getLogger(__name__)


@dataclass
class DeviceCounters:
    polls: int = 0
    failed_polls: int = 0
    consecutive_failures: int = 0
    overruns: int = 0
    last_good_ts_ms: int | None = None
    last_latency_s: float = 0.0


@dataclass
class DevicePoller:
    """Polls one device at its interval and puts one DevicePoll per cycle on `out`."""

    device: DeviceConfig
    profile: Profile
    bus: Bus
    out: asyncio.Queue[DevicePoll]
    counters: DeviceCounters = field(default_factory=DeviceCounters)
    interval_s: float = 0.0

    def __post_init__(self) -> None:
        self.plan: list[ReadRequest] = plan_reads(self.profile)
        self.interval_s = self.interval_s or self.device.poll_interval_s
        self._episode = Episode(log)

    async def poll_once(self) -> DevicePoll:
        ts = now_ms()
        started = t_mono()
        values = await read_device(self.bus, self.device.unit, self.plan, self.profile)
        self.counters.last_latency_s = t_mono() - started
        readings = tuple(
            Reading(
                device=self.device.name,
                point=v.name,
                ts_ms=ts,
                value=v.value,
                quality=Quality(v.quality),
                reason=v.reason,
            )
            for v in values
        )
        # The device answered if any request came back; a decode or range fault is the sensor's.
        answered = [r for r in readings if r.reason not in _LINK_REASONS]
        ok = bool(answered) or not readings
        reason = None if ok else (readings[0].reason if readings else None)
        self._count(ok, ts, readings, reason)
        return DevicePoll(self.device.name, ts, readings, ok, reason)

    def _count(self, ok: bool, ts: int, readings: tuple[Reading, ...], reason: str | None) -> None:
        c = self.counters
        c.polls += 1
        if ok:
            if any(r.quality is Quality.GOOD for r in readings):
                c.last_good_ts_ms = ts
            c.consecutive_failures = 0
            self._episode.recovered("device answering again device=%s", self.device.name)
        else:
            c.failed_polls += 1
            c.consecutive_failures += 1
            self._episode.fault(
                "device not answering device=%s bus=%s unit=%d reason=%s",
                self.device.name,
                self.device.bus,
                self.device.unit,
                reason,
            )

    async def run(self) -> None:
        deadline = t_mono()
        while True:
            poll = await self.poll_once()
            await self.out.put(poll)
            deadline += self.interval_s
            now = t_mono()
            if now > deadline:
                # Skip the ticks we missed instead of bursting to catch up: the bus is busy enough.
                missed = math.ceil((now - deadline) / self.interval_s)
                self.counters.overruns += missed
                deadline += missed * self.interval_s
            await asyncio.sleep(max(0.0, deadline - t_mono()))


# Reasons that mean the request never reached a sensor value (link or device fault).
_LINK_REASONS = frozenset({"timeout", "bus closed", "frame error", "driver error"})
