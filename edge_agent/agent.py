"""Builds the pipeline from the config and runs it on one asyncio loop.

poller tasks ──DevicePoll──► detect_and_store ──► Store (commit) ──wake──► Uplink
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from drivers.base import Bus
from drivers.bus import open_bus
from drivers.errors import ProfileError
from drivers.profiles import Profile, load_profiles
from edge_agent.clock import now_ms
from edge_agent.config import GatewayConfig, load_config
from edge_agent.errors import ConfigError, Problem
from edge_agent.poller import DevicePoller
from edge_agent.records import AlarmTransition, DevicePoll
from edge_agent.store import Store
from edge_agent.uplink.drain import Uplink
from rules.engine import Engine
from rules.errors import RuleError
from rules.events import PointMeta
from rules.spec import RuleSet, load_rules
from rules.warmup import warm_up

log = logging.getLogger(__name__)

DEFAULT_PACKS = ("gas", "water", "drainage")


def load_everything(path: Path) -> tuple[GatewayConfig, dict[str, Profile], RuleSet]:
    """Config, the profiles it can use, and its rules; every problem as a ConfigError."""
    cfg = load_config(path)
    try:
        profiles = load_profiles([cfg.resolve(p) for p in cfg.gateway.profiles])
    except ProfileError as err:
        raise ConfigError([Problem(f, loc, m) for f, loc, m in err.problems]) from err
    return cfg, profiles, load_ruleset(cfg)


def load_ruleset(cfg: GatewayConfig) -> RuleSet:
    refs = cfg.gateway.rules or list(DEFAULT_PACKS)
    try:
        return load_rules(refs, cfg.base_dir)
    except RuleError as err:
        raise ConfigError([Problem(f, loc, m) for f, loc, m in err.problems]) from err


def point_metas(cfg: GatewayConfig, profiles: dict[str, Profile]) -> list[PointMeta]:
    metas = []
    for d in cfg.devices:
        if not d.enabled:
            continue
        for p in profiles[d.profile].points:
            lo, hi = p.range if p.range is not None else (float("-inf"), float("inf"))
            metas.append(PointMeta(d.name, p.name, p.quantity, p.unit, lo, hi, dict(d.tags)))
    return metas


AlarmHook = Callable[[AlarmTransition], None]


@dataclass
class Agent:
    """The running daemon: pollers, detection, store and uplink under one TaskGroup."""

    cfg: GatewayConfig
    profiles: dict[str, Profile]
    ruleset: RuleSet
    on_alarm: AlarmHook | None = None
    pollers: list[DevicePoller] = field(default_factory=list)
    started_ms: int = field(default_factory=now_ms)

    def __post_init__(self) -> None:
        self.queue: asyncio.Queue[DevicePoll] = asyncio.Queue(maxsize=1000)
        self.stopping = asyncio.Event()
        self.depth_at_stop = 0
        self.points = point_metas(self.cfg, self.profiles)
        self.engine = Engine(self.ruleset, self.points, mode=self.cfg.gateway.mode)
        self._index = {m.key: self.engine.index(m.key) for m in self.points}
        self.cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store.open(self.cfg.data_dir / "buffer.db")
        self.engine.restore(self.store.active_alarms())
        self.uplink = Uplink(self.cfg, self.store)

    async def run(self) -> None:
        """Run until `stop()`; then flush what is queued and say offline."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        warm_up()  # compile or load every kernel now, never on the first alarm
        async with contextlib.AsyncExitStack() as stack:
            buses: dict[str, Bus] = {}
            for b in self.cfg.buses:
                if any(d.bus == b.name and d.enabled for d in self.cfg.devices):
                    buses[b.name] = await stack.enter_async_context(open_bus(b))
            self.pollers = [
                DevicePoller(d, self.profiles[d.profile], buses[d.bus], self.queue)
                for d in self.cfg.devices
                if d.enabled
            ]
            log.info(
                "agent started gateway=%s devices=%d points=%d rules=%d",
                self.cfg.gateway.id,
                len(self.pollers),
                len(self.points),
                len(self.ruleset.rules),
            )
            try:
                async with asyncio.TaskGroup() as tg:
                    poll_tasks = [tg.create_task(p.run()) for p in self.pollers]
                    detect = tg.create_task(self._detect_and_store())
                    uplink = tg.create_task(self.uplink.run())
                    await self.stopping.wait()
                    for t in poll_tasks:
                        t.cancel()
                    await self.queue.join()  # everything polled is stored before we stop
                    detect.cancel()
                    self.store.flush()
                    await self.uplink.stop(timeout_s=self.uplink.stop_drain_s + 3)
                    uplink.cancel()
            finally:
                self.depth_at_stop = self.store.depth()
                self.store.close()
                log.info("agent stopped gateway=%s", self.cfg.gateway.id)

    def stop(self) -> None:
        self.stopping.set()

    async def _detect_and_store(self) -> None:
        while True:
            poll = await self.queue.get()
            try:
                self.handle_poll(poll)
            finally:
                self.queue.task_done()

    def handle_poll(self, poll: DevicePoll) -> list[AlarmTransition]:
        transitions = self.detect(poll)
        gw = self.cfg.gateway.id
        # The alarm is durable before anything can publish it.
        if transitions:
            self.store.add_alarms(transitions, gw)
        self.store.add_poll(poll, gw)
        self.uplink.wake()
        for t in transitions:
            log.info(
                "alarm %s rule=%s point=%s/%s level=%d value=%s limit=%s id=%s",
                t.state,
                t.rule,
                t.device,
                t.point,
                t.level,
                t.value,
                t.limit,
                t.alarm_id,
            )
            if self.on_alarm is not None:
                self.on_alarm(t)
        return transitions

    def detect(self, poll: DevicePoll) -> list[AlarmTransition]:
        rows = [(self._index[r.key], r) for r in poll.readings if r.key in self._index]
        if not rows:
            return []
        idx = np.array([i for i, _ in rows], dtype=np.int64)
        ts = np.array([r.ts_ms for _, r in rows], dtype=np.int64)
        val = np.array([r.value for _, r in rows], dtype=np.float64)
        good = np.array([r.usable for _, r in rows], dtype=np.int8)
        return self.engine.process_batch(idx, ts, val, good)


async def run_agent(cfg_path: Path, on_alarm: AlarmHook | None = None) -> None:
    cfg, profiles, ruleset = load_everything(cfg_path)
    await Agent(cfg, profiles, ruleset, on_alarm=on_alarm).run()
