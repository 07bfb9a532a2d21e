"""Per-device polling on monotonic deadlines. Faults become bad-quality readings, never crashes.

Each device has its own task. The bus (drivers.bus.BusLine) serialises transactions,
so devices of one bus take turns request by request; a device that stops answering is
probed with exponential backoff (drivers.schedule.DeviceHealth) and cannot starve the
others. While one of its alarms is active a device may poll faster
(`poll_interval_alarm_s`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from drivers.base import PointValue, ReadRequest
from drivers.bus import BusLine
from drivers.counters import Counters
from drivers.device import read_device
from drivers.planner import plan_reads
from drivers.profiles import Profile
from drivers.schedule import BackoffPolicy, Change, DeviceHealth, Ticker
from edge_agent.clock import Clock, t_mono
from edge_agent.config import DeviceConfig
from edge_agent.records import DevicePoll, Reading
from edge_agent.system.logs import Episode

log = logging.getLogger(__name__)


@dataclass
class DeviceStatus:
    """What `status` shows for a device, kept up to date by its poller."""

    last_good_ts_ms: int | None = None
    last_good: dict[str, tuple[float, int]] = field(default_factory=dict)  # point → (value, ts)
    last_latency_s: float | None = None
    polled: bool = False


@dataclass
class DevicePoller:
    """Polls one device at its interval and puts one DevicePoll per cycle on `out`."""

    device: DeviceConfig
    profile: Profile
    bus: BusLine
    out: asyncio.Queue[DevicePoll]
    status: DeviceStatus = field(default_factory=DeviceStatus)
    clock: Clock = field(default_factory=Clock)

    def __post_init__(self) -> None:
        self.plan: list[ReadRequest] = plan_reads(self.profile)
        self.health = DeviceHealth(
            self.device.poll_interval_s, BackoffPolicy(offline_after=self.device.offline_after)
        )
        self.ticker = Ticker(self.device.poll_interval_s, t_mono())
        self._poke = asyncio.Event()
        self.counters = Counters()
        self._counter_points = {p.name for p in self.profile.points if p.counter}
        self._overrun = Episode(log)

    def set_fast(self, fast: bool) -> None:
        """Poll at `poll_interval_alarm_s` while an alarm of this device is active."""
        fast_s = self.device.poll_interval_alarm_s
        interval = fast_s if fast and fast_s is not None else self.device.poll_interval_s
        if interval != self.ticker.interval_s:
            log.info("poll interval device=%s interval_s=%g", self.device.name, interval)
            self.ticker.interval_s = interval
            self.ticker.due = min(self.ticker.due, t_mono() + interval)
            self._poke.set()

    async def poll_once(self) -> DevicePoll:
        stamp = self.clock.now()
        ts = stamp.wall_ms
        started = t_mono()
        values = await read_device(self.bus, self.device.unit, self.plan, self.profile)
        self.status.last_latency_s = t_mono() - started
        if self._counter_points:
            values = [
                self.counters.increment(v) if v.name in self._counter_points else v for v in values
            ]
        change = self.health.record(values)
        self._note(change, values, ts)
        readings = tuple(
            Reading(self.device.name, v.name, ts, v.value, v.quality, v.reason, stamp.rule_ms)
            for v in values
        )
        return DevicePoll(
            self.device.name,
            ts,
            readings,
            ok=self.health.failures_in_row == 0,
            reason=self.health.reason,
            link=change,
        )

    def clock_stepped(self, step_ms: int) -> None:
        """Repair the wall times this poller keeps (status) after a wall-clock step."""
        s = self.status
        s.last_good = {k: (v, ts + step_ms) for k, (v, ts) in s.last_good.items()}
        if s.last_good_ts_ms is not None:
            s.last_good_ts_ms += step_ms

    def _note(self, change: Change | None, values: list[PointValue], ts: int) -> None:
        self.status.polled = True
        good = [v for v in values if v.quality == "good"]
        for v in good:
            self.status.last_good[v.name] = (v.value, ts)
        if good:
            self.status.last_good_ts_ms = ts
        d = self.device
        if change == "offline":
            log.warning(
                "device offline device=%s bus=%s unit=%d reason=%s failed_polls=%d",
                d.name, d.bus, d.unit, self.health.reason, self.health.failures_in_row,
            )  # fmt: skip
        elif change == "online":
            log.info("device online again device=%s bus=%s unit=%d", d.name, d.bus, d.unit)

    def _count_overruns(self) -> None:
        """Deadlines missed because the poll (or the wait for the line) took longer than
        the interval go to the bus's overrun counter (status, health), and are logged
        once per episode while the device is online (an offline device's probes are
        spaced out on purpose)."""
        missed = self.ticker.overruns_since_last()
        self.bus.overruns += missed
        d = self.device
        if missed and self.health.online:
            self._overrun.fault(
                "poll overrun device=%s bus=%s interval_s=%g missed=%d "
                "(the bus cycle takes longer than the poll interval)",
                d.name, d.bus, self.ticker.interval_s, missed,
            )  # fmt: skip
        elif not missed:
            self._overrun.recovered("polls on time again device=%s bus=%s", d.name, d.bus)

    async def run(self) -> None:
        while True:
            await self.out.put(await self.poll_once())
            due = self.health.next_poll(self.ticker, t_mono())
            self._count_overruns()
            self._poke.clear()
            # A switch to fast polling (an alarm) shortens the wait at once.
            try:
                async with asyncio.timeout(max(0.0, due - t_mono())):
                    await self._poke.wait()
            except TimeoutError:
                pass
