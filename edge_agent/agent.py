"""Builds the pipeline from the config and runs it on one asyncio loop.

pollers ──DevicePoll──► detect loop (Detection) ──► Store (commit) ──wake──► Uplink
                                  ▲ tick (1 s): stale rules, mode schedule
control socket (CLI) and MQTT commands ──► Services ──► Detection / buses
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from drivers.bus import BusLine, open_bus
from drivers.errors import ProfileError
from drivers.profiles import Profile, load_profiles
from edge_agent.clock import now_ms
from edge_agent.config import GatewayConfig, load_config
from edge_agent.control import ControlServer, control_socket_path
from edge_agent.detection import Detection
from edge_agent.errors import ConfigError, Problem
from edge_agent.logs import Episode
from edge_agent.modes import scheduled_mode
from edge_agent.poller import DevicePoller
from edge_agent.records import AlarmState, AlarmTransition, DevicePoll
from edge_agent.sdnotify import Notifier, run_watchdog
from edge_agent.services import Services
from edge_agent.status_report import summary_line
from edge_agent.store import Store, StoreError
from edge_agent.uplink.commands import CommandRouter
from edge_agent.uplink.drain import Uplink
from rules.errors import RuleError
from rules.events import PointMeta
from rules.spec import RuleSet, load_rules
from rules.warmup import warm_up

log = logging.getLogger(__name__)

DEFAULT_PACKS = ("gas", "water", "drainage")
TICK_S = 1.0
# What a full or failing disk raises from the store: upkeep also runs raw SQL.
STORE_FAULTS = (StoreError, sqlite3.Error)
STATUS_EVERY_TICKS = 10  # systemd's STATUS= line (`systemctl status`) every 10 s


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
    config_path: Path = Path("gateway.toml")
    on_alarm: AlarmHook | None = None
    started_ms: int = field(default_factory=now_ms)

    def __post_init__(self) -> None:
        self.queue: asyncio.Queue[DevicePoll] = asyncio.Queue(maxsize=1000)
        self.stopping = asyncio.Event()
        self.depth_at_stop = 0
        self.devices = [d for d in self.cfg.devices if d.enabled]
        self.points = point_metas(self.cfg, self.profiles)
        self.units = {m.key: m.unit for m in self.points}
        buf = self.cfg.buffer
        self.store = Store.open(
            self.cfg.data_dir / "buffer.db",
            commit_interval_s=buf.commit_interval_s,
            max_message_bytes=buf.max_message_kb * 1024,
        )
        mode = scheduled_mode(self.cfg.gateway) or self.cfg.gateway.mode
        self.detection = Detection(
            self.ruleset, self.points, self.devices, mode, self.store.active_alarms()
        )
        self.alarm_since = self.store.raised_at([t.alarm_id for t in self.detection.active()])
        self.services = Services(self)
        self.router = CommandRouter(
            self.cfg.mqtt.commands, base_dir=self.cfg.base_dir, fmt=self.cfg.mqtt.payload
        )
        s = self.services
        for name, handler in (
            ("ack", s.cmd_ack),
            ("reload", s.cmd_reload),
            ("mode", s.cmd_mode),
            ("read", s.cmd_read),
            ("diag", s.cmd_diag),
        ):
            self.router.register(name, handler)
        self.uplink = Uplink(
            self.cfg,
            self.store,
            commands=self.router,
            health=self.health,
            health_interval_s=self.cfg.mqtt.health_interval_s,
        )
        self.buses: dict[str, BusLine] = {}
        self.pollers: dict[str, DevicePoller] = {}
        self.notifier = Notifier({})  # replaced in run(); disabled until then
        self._mode_pinned = False  # a `mode` command wins over the schedule until restart
        self._unstored: list[AlarmTransition] = []  # alarms a full disk could not take yet
        self._store_fault = Episode(log)
        startup = list(self.detection.orphans)
        if self.store.recovery is not None:
            startup += self._buffer_recovered_alarm()
        self.commit(startup)

    # -- running ------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until `stop()`; then store what was polled, drain, and say offline."""
        loop = asyncio.get_running_loop()
        for sig, action in ((signal.SIGTERM, self.stop), (signal.SIGINT, self.stop),
                            (signal.SIGHUP, self._sighup)):  # fmt: skip
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, action)
        seconds = warm_up()  # compile or load every kernel now, never on the first alarm
        log.debug("kernels ready in %.2f s", seconds)
        notifier = self.notifier = Notifier()
        async with contextlib.AsyncExitStack() as stack:
            for b in self.cfg.buses:
                if any(d.bus == b.name for d in self.devices):
                    self.buses[b.name] = await stack.enter_async_context(open_bus(b))
            self.pollers = {
                d.name: DevicePoller(d, self.profiles[d.profile], self.buses[d.bus], self.queue)
                for d in self.devices
            }
            for t in self.detection.active():
                self._poll_faster(t.device)
            sock = control_socket_path(self.cfg)
            await stack.enter_async_context(
                ControlServer(sock, self.services.handlers(), self.services.streams())
            )
            log.info(
                "agent started gateway=%s devices=%d points=%d rules=%d mode=%s control=%s",
                self.cfg.gateway.id, len(self.pollers), len(self.points),
                len(self.ruleset.rules), self.detection.mode, sock,
            )  # fmt: skip
            try:
                async with asyncio.TaskGroup() as tg:
                    polls = [tg.create_task(p.run()) for p in self.pollers.values()]
                    helpers = [
                        tg.create_task(self._detect_loop()),
                        tg.create_task(self._tick_loop()),
                        tg.create_task(self._maintain()),
                        tg.create_task(run_watchdog(notifier)),
                    ]
                    uplink = tg.create_task(self.uplink.run())
                    notifier.ready(f"polling {len(self.pollers)} devices")
                    await self.stopping.wait()
                    notifier.stopping("stopping: storing and draining")
                    for task in polls:
                        task.cancel()
                    await self.queue.join()  # everything polled is stored before we stop
                    for task in helpers:
                        task.cancel()
                    self.commit([])  # alarms a full disk held, if there is room now
                    try:
                        self.store.flush()
                    except STORE_FAULTS as err:
                        log.error("readings not stored at stop reason=%s", err)
                    await self.uplink.stop(timeout_s=self.uplink.stop_drain_s + 3)
                    uplink.cancel()
            finally:
                self.depth_at_stop = self.store.depth()
                self.store.close()
                notifier.close()
                log.info("agent stopped gateway=%s", self.cfg.gateway.id)

    def stop(self) -> None:
        self.stopping.set()

    async def _detect_loop(self) -> None:
        while True:
            poll = await self.queue.get()
            try:
                self.handle_poll(poll)
            except Exception:
                # A fault in one poll's handling must not stop detection for everyone.
                log.exception("poll handling failed device=%s", poll.device)
            finally:
                self.queue.task_done()

    async def _tick_loop(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(TICK_S)
            n += 1
            self.commit(self.detection.tick(now_ms()))  # also retries alarms a full disk held
            if n % STATUS_EVERY_TICKS == 0 and self.notifier.enabled:
                self.notifier.status(summary_line(await self.services.status({})))
            if not self._mode_pinned:
                wanted = scheduled_mode(self.cfg.gateway)
                if wanted is not None and wanted != self.detection.mode:
                    log.info("mode schedule mode=%s", wanted)
                    self.commit(self.detection.set_mode(wanted))

    async def _maintain(self) -> None:
        buf = self.cfg.buffer
        while True:
            try:
                await self.store.maintain(
                    max_bytes=int(buf.max_mb * 1_000_000), retention_s=buf.retention_days * 86400
                )
            except STORE_FAULTS as err:
                # A full disk stops upkeep, not the agent: retry until there is room.
                self._store_fault.fault("buffer upkeep failed, retrying reason=%s", err)
                await asyncio.sleep(1.0)

    # -- the pipeline step ----------------------------------------------------------------

    def handle_poll(self, poll: DevicePoll) -> list[AlarmTransition]:
        transitions = self.detection.on_poll(poll)
        self.commit(transitions)
        try:
            self.store.add_poll(poll, self.cfg.gateway.id)
        except STORE_FAULTS as err:
            self._store_fault.fault("cannot store readings device=%s reason=%s", poll.device, err)
        self.uplink.wake()
        for r in poll.readings:
            self.services.publish_reading(r, self.units.get(r.key, ""))
        return transitions

    def commit(self, transitions: Sequence[AlarmTransition]) -> None:
        """Store transitions durably (before anything can publish them), then tell others.

        If the disk is full even after old telemetry made way, the transitions wait in
        memory, in order, and every tick tries again: delivered late, never dropped."""
        if not transitions and not self._unstored:
            return
        batch = [*self._unstored, *transitions]
        try:
            self.store.add_alarms(batch, self.cfg.gateway.id)
        except STORE_FAULTS as err:
            self._unstored = batch
            self._store_fault.fault(
                "cannot store alarms, holding them in memory until the disk has room "
                "held=%d reason=%s", len(batch), err,
            )  # fmt: skip
        else:
            self._unstored = []
            self._store_fault.recovered("alarms stored again")
        for t in transitions:
            if t.state is AlarmState.RAISED:
                self.alarm_since[t.alarm_id] = t.ts_ms
            elif t.state is AlarmState.CLEARED:
                self.alarm_since.pop(t.alarm_id, None)
            log.info(
                "alarm %s rule=%s point=%s/%s level=%d value=%s limit=%s id=%s",
                t.state, t.rule, t.device, t.point, t.level, t.value, t.limit, t.alarm_id,
            )  # fmt: skip
            self.services.publish_alarm(t)
            if self.on_alarm is not None:
                self.on_alarm(t)
        for device in {t.device for t in transitions}:
            self._poll_faster(device)

    def _poll_faster(self, device: str) -> None:
        poller = self.pollers.get(device)
        if poller is not None:
            poller.set_fast(device in self.detection.devices_in_alarm())

    # -- operations (commands, signals) ------------------------------------------------------

    def ack(self, alarm_id: str) -> AlarmTransition | None:
        t = self.detection.ack(alarm_id, now_ms())
        if t is not None:
            self.commit([t])
        return t

    def known_modes(self) -> set[str]:
        """Modes something on this gateway refers to: the default, the schedule, the rules."""
        gw = self.cfg.gateway
        modes = {"normal", gw.mode, *(w.mode for w in gw.mode_schedule)}
        for rule in self.detection.ruleset.rules:
            modes.update(rule.modes or ())
        return modes

    def set_mode(self, mode: str) -> None:
        self._mode_pinned = True
        log.info("mode switched mode=%s", mode)
        self.commit(self.detection.set_mode(mode))

    def reload_rules(self) -> int:
        """Re-read the rule files; on any problem the running rules stay (ConfigError)."""
        cfg = load_config(self.config_path) if self.config_path.exists() else self.cfg
        ruleset = load_ruleset(cfg)
        self.commit(self.detection.reload(ruleset))
        self.ruleset = ruleset
        log.info("rules reloaded rules=%d", len(ruleset.rules))
        return len(ruleset.rules)

    def _sighup(self) -> None:
        try:
            self.reload_rules()
        except ConfigError as err:
            log.error(
                "rules not reloaded, the running rules stay: %s", str(err).replace("\n", "; ")
            )

    def _buffer_recovered_alarm(self) -> list[AlarmTransition]:
        rec = self.store.recovery
        assert rec is not None
        from rules.alarms import new_alarm_id

        ts = now_ms()
        raised = AlarmTransition(
            alarm_id=new_alarm_id(ts), ts_ms=ts, device=self.cfg.gateway.id, point="_buffer",
            rule="buffer.recovered", kind="gateway", level=3, state=AlarmState.RAISED,
            value=float("nan"), limit=float("nan"), unit="",
        )  # fmt: skip
        log.error("buffer was unreadable, moved aside to %s: %s", rec.moved_to, rec.reason)
        # An event rather than a condition: it is raised and closed at once, both delivered.
        return [raised, replace(raised, state=AlarmState.CLEARED)]

    def health(self) -> dict[str, Any]:
        buses = {
            name: {"kind": self.cfg.bus(name).kind, **b.stats()} for name, b in self.buses.items()
        }
        devices = {
            name: {"polls": p.health.polls, "failed_polls": p.health.failed_polls,
                   "online": p.health.online, "reason": p.health.reason,
                   "overruns": p.ticker.overruns, "last_good_ts": p.status.last_good_ts_ms}
            for name, p in self.pollers.items()
        }  # fmt: skip
        return {"buses": buses, "devices": devices, "mode": self.detection.mode}


async def run_agent(cfg_path: Path, on_alarm: AlarmHook | None = None) -> None:
    cfg, profiles, ruleset = load_everything(cfg_path)
    await Agent(cfg, profiles, ruleset, config_path=cfg_path, on_alarm=on_alarm).run()
