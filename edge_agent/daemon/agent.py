"""Builds the pipeline from the config and runs it on one asyncio loop.

pollers ──DevicePoll──► detect loop (pipeline.detection) ──► pipeline.commit (store first)
   ──wake──► uplink.drain (MQTT)          ▲ tick (1 s): stale rules, mode schedule
control socket (CLI) and MQTT commands ──► ops.services ──► this Agent (RunningGateway)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from drivers.bus import BusLine, open_bus
from drivers.profiles import Profile
from edge_agent.clock import Clock, now_ms
from edge_agent.config import GatewayConfig, load_config, secret_warnings
from edge_agent.config.actions import check_actions
from edge_agent.control.paths import control_socket_path
from edge_agent.control.server import ControlServer
from edge_agent.daemon.loading import load_everything, load_ruleset, open_store, point_metas
from edge_agent.errors import ConfigError
from edge_agent.ops.metrics import prometheus_text
from edge_agent.ops.services import Services
from edge_agent.ops.status import summary_line
from edge_agent.pipeline.actions import ActionStage
from edge_agent.pipeline.commit import Commit
from edge_agent.pipeline.detection import Detection
from edge_agent.pipeline.modes import scheduled_mode
from edge_agent.pipeline.poller import DevicePoller
from edge_agent.pipeline.report import Reporter, report_policies
from edge_agent.pipeline.upkeep import keep_store
from edge_agent.records import ActionEvent, AlarmState, AlarmTransition, DevicePoll
from edge_agent.store import StoreError
from edge_agent.system.prometheus import keep_textfile, serve_http
from edge_agent.system.sdnotify import Notifier, run_watchdog
from edge_agent.uplink.commands import CommandRouter
from edge_agent.uplink.drain import Uplink
from rules.alarms import new_alarm_id
from rules.spec import RuleSet
from rules.warmup import warm_up

log = logging.getLogger(__name__)

TICK_S = 1.0
STATUS_EVERY_TICKS = 10  # systemd's STATUS= line (`systemctl status`) every 10 s
BASELINE_SAVE_TICKS = 600  # learned baselines to the store every 10 min (and at stop)

AlarmHook = Callable[[AlarmTransition], None]


@dataclass
class Agent:
    """The running daemon: pollers, detection, store and uplink under one TaskGroup.

    It is also the `RunningGateway` the ops layer sees (ops.state): the properties and
    methods below the pipeline are all that commands and the control socket can use."""

    cfg: GatewayConfig
    profiles: dict[str, Profile]
    ruleset: RuleSet
    config_path: Path = Path("gateway.toml")
    on_alarm: AlarmHook | None = None
    started_ms: int = field(default_factory=now_ms)
    clock: Clock = field(default_factory=Clock)

    def __post_init__(self) -> None:
        self.queue: asyncio.Queue[DevicePoll] = asyncio.Queue(maxsize=1000)
        self.stopping = asyncio.Event()
        self.depth_at_stop = 0
        self.devices = [d for d in self.cfg.devices if d.enabled]
        self.points = point_metas(self.cfg, self.profiles)
        self.units = {m.key: m.unit for m in self.points}
        self.store = open_store(self.cfg)
        mode = scheduled_mode(self.cfg.gateway) or self.cfg.gateway.mode
        self.detection = Detection(
            self.ruleset, self.points, self.devices, mode, self.store.active_alarms(), self.clock
        )
        restored = self.detection.engine.load_learned(self.store.load_baselines())
        log.debug("learned baselines restored bindings=%d", restored)
        self.reporter = Reporter(report_policies(self.cfg.gateway, self.devices, self.points))
        self.commit = Commit(
            self.store, self.cfg.gateway.id, self.detection.active(), self.reporter
        )
        self.actions = ActionStage(
            self.cfg, self.profiles, self.ruleset, self.store, self.commit, self.detection
        )
        self._steps: list[AlarmTransition] = []  # clock.stepped events for the next tick
        self.clock.on_step += [
            self.detection.clock_stepped, self.commit.clock_stepped, self._clock_stepped,
        ]  # fmt: skip
        self.services = Services(self)
        self.router = CommandRouter(
            self.cfg.mqtt.commands, base_dir=self.cfg.base_dir, fmt=self.cfg.mqtt.payload
        )
        for name, (handler, args) in self.services.commands().items():
            self.router.register(name, handler, args)
        self.uplink = Uplink(
            self.cfg,
            self.store,
            commands=self.router,
            health=self.services.health,
            health_interval_s=self.cfg.mqtt.health_interval_s,
            points=self.points,
        )
        self.buses: dict[str, BusLine] = {}
        self.pollers: dict[str, DevicePoller] = {}
        self.notifier = Notifier({})  # replaced in run(); disabled until then
        self._mode_pinned = False  # a `mode` command wins over the schedule until restart
        tail = self.services.tail_hub
        self.commit.alarm_listeners += [tail.publish_alarm, self._poll_faster]
        if self.on_alarm is not None:
            self.commit.alarm_listeners.append(self.on_alarm)
        self.commit.alarm_listeners.append(self.actions.on_alarm)  # decided after commit
        self.commit.poll_listeners += [self._publish_readings, lambda _: self.uplink.wake()]
        startup = list(self.detection.orphans)
        if self.store.recovery is not None:
            startup += self._buffer_recovered_alarm()
        self.commit.alarms(startup)

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
        buf = self.cfg.buffer
        async with contextlib.AsyncExitStack() as stack:
            for b in self.cfg.buses:
                if any(d.bus == b.name for d in self.devices):
                    self.buses[b.name] = await stack.enter_async_context(open_bus(b))
            self.pollers = {
                d.name: DevicePoller(
                    d, self.profiles[d.profile], self.buses[d.bus], self.queue, clock=self.clock
                )
                for d in self.devices
            }
            self.clock.on_step += [p.clock_stepped for p in self.pollers.values()]
            for t in self.detection.active():
                self._poll_faster(t)
            self.actions.buses = self.buses
            sock = control_socket_path(self.cfg)
            await stack.enter_async_context(
                ControlServer(sock, self.services.methods(), self.services.streams())
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
                        tg.create_task(
                            keep_store(
                                self.store,
                                max_bytes=int(buf.max_mb * 1_000_000),
                                retention_s=buf.retention_days * 86400,
                            )
                        ),
                        tg.create_task(run_watchdog(notifier)),
                        tg.create_task(self.actions.run()),
                    ]
                    metrics = self.cfg.metrics
                    if metrics.textfile is not None:
                        path = self.cfg.resolve(metrics.textfile)
                        keep = keep_textfile(path, self.metrics_text, metrics.interval_s)
                        helpers.append(tg.create_task(keep))
                    if metrics.listen_host_port is not None:
                        host, port = metrics.listen_host_port
                        helpers.append(tg.create_task(serve_http(host, port, self.metrics_text)))
                    uplink = tg.create_task(self.uplink.run())
                    notifier.ready(f"polling {len(self.pollers)} devices")
                    await self.stopping.wait()
                    notifier.stopping("stopping: storing and draining")
                    for task in polls:
                        task.cancel()
                    await self.queue.join()  # everything polled is stored before we stop
                    for task in helpers:
                        task.cancel()
                    self.commit.flush()
                    self._save_baselines()
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
            steps, self._steps = self._steps, []
            self.commit.alarms(steps + self.detection.tick())  # also retries held alarms
            self.commit.tick(now_ms())  # telemetry batches whose interval has passed
            self.actions.flush()  # action events a full disk held
            if n % BASELINE_SAVE_TICKS == 0:
                self._save_baselines()
            if n % STATUS_EVERY_TICKS == 0 and self.notifier.enabled:
                self.notifier.status(summary_line(await self.services.status()))
            if not self._mode_pinned:
                wanted = scheduled_mode(self.cfg.gateway)
                if wanted is not None and wanted != self.detection.mode:
                    log.info("mode schedule mode=%s", wanted)
                    self.commit.alarms(self.detection.set_mode(wanted))

    def _save_baselines(self) -> None:
        learned = self.detection.engine.learned()
        if not learned:
            return
        try:
            self.store.save_baselines(learned)
        except StoreError as err:  # a full disk: the next save tries again
            log.warning("cannot save learned baselines reason=%s", err)

    def handle_poll(self, poll: DevicePoll) -> list[AlarmTransition]:
        """The pipeline step of one poll: detect, then store before anything publishes."""
        transitions = self.detection.on_poll(poll)
        self.commit.alarms(transitions)
        self.commit.poll(poll)
        return transitions

    def _publish_readings(self, poll: DevicePoll) -> None:
        for r in poll.readings:
            self.services.tail_hub.publish_reading(r, self.units.get(r.key, ""))

    def _poll_faster(self, t: AlarmTransition) -> None:
        poller = self.pollers.get(t.device)
        if poller is not None:
            poller.set_fast(t.device in self.detection.devices_in_alarm())

    # -- the RunningGateway the ops layer sees ------------------------------------------------

    @property
    def mode(self) -> str:
        return self.detection.mode

    @property
    def held_alarms(self) -> int:
        """Alarm transitions waiting in memory for room on the disk."""
        return self.commit.held

    @property
    def rule_count(self) -> int:
        return len(self.detection.ruleset.rules)

    @property
    def not_assessing(self) -> list[dict[str, object]]:
        return [n.to_dict() for n in self.detection.engine.not_assessing]

    @property
    def learning(self) -> list[dict[str, object]]:
        return self.detection.engine.learning()

    def active_alarms(self) -> list[tuple[AlarmTransition, int]]:
        since = self.commit.raised_at
        return [(t, since.get(t.alarm_id, t.ts_ms)) for t in self.detection.active()]

    def ack(self, alarm_id: str) -> AlarmTransition | None:
        t = self.detection.ack(alarm_id)
        if t is not None:
            self.commit.alarms([t])
        return t

    def known_modes(self) -> set[str]:
        """Modes something on this gateway refers to: the default, the schedule, the rules."""
        gw = self.cfg.gateway
        modes = {"normal", gw.mode, *(w.mode for w in gw.mode_schedule)}
        for rule in self.detection.ruleset.rules:
            modes.update(rule.modes or ())
        return modes | self.detection.ruleset.modes  # the actions' modes too

    def set_mode(self, mode: str) -> None:
        self._mode_pinned = True
        log.info("mode switched mode=%s", mode)
        self.commit.alarms(self.detection.set_mode(mode))

    def reload_rules(self) -> int:
        """Re-read the rule files; on any problem the running rules stay (ConfigError)."""
        cfg = load_config(self.config_path) if self.config_path.exists() else self.cfg
        ruleset = load_ruleset(cfg)
        problems = check_actions(ruleset, self.cfg.devices, self.profiles)
        if problems:
            raise ConfigError(problems)
        self.commit.alarms(self.detection.reload(ruleset))
        self.ruleset = self.actions.ruleset = ruleset
        log.info("rules reloaded rules=%d", len(ruleset.rules))
        return len(ruleset.rules)

    async def write(self, key: str, value: float) -> ActionEvent:
        """An operator's write of `device/point` (audited as an action event)."""
        return await self.actions.command_write(key, value)

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
        ts = now_ms()
        raised = AlarmTransition(
            alarm_id=new_alarm_id(ts), ts_ms=ts, device=self.cfg.gateway.id, point="_buffer",
            rule="buffer.recovered", kind="gateway", level=3, state=AlarmState.RAISED,
            value=float("nan"), limit=float("nan"), unit="",
        )  # fmt: skip
        log.error("buffer was unreadable, moved aside to %s: %s", rec.moved_to, rec.reason)
        # An event rather than a condition: it is raised and closed at once, both delivered.
        return [raised, replace(raised, state=AlarmState.CLEARED)]

    def _clock_stepped(self, step_ms: int) -> None:
        """A wall-clock step as an event in the stream (raised and cleared at once, like
        buffer.recovered): durable and ordered, where health is a passing sample."""
        ts = self.clock.wall_now()
        raised = AlarmTransition(
            alarm_id=new_alarm_id(ts), ts_ms=ts, device=self.cfg.gateway.id, point="_clock",
            rule="clock.stepped", kind="gateway", level=4, state=AlarmState.RAISED,
            value=step_ms / 1000, limit=self.clock.step_tolerance_ms / 1000, unit="s",
        )  # fmt: skip
        self._steps += [raised, replace(raised, state=AlarmState.CLEARED)]

    def report_counters(self) -> dict[str, int]:
        """Readings polled vs sent as telemetry (the reporting policy's effect)."""
        return dict(self.reporter.counters)

    async def metrics_text(self) -> str:
        """The health counters as Prometheus text (`[metrics]`)."""
        return prometheus_text(await self.services.status())


async def run_agent(cfg_path: Path, on_alarm: AlarmHook | None = None) -> None:
    cfg, profiles, ruleset = load_everything(cfg_path)
    for w in secret_warnings(cfg, str(cfg_path)):
        log.warning("secret readable by others key=%s: %s", w.loc, w.msg)
    await Agent(cfg, profiles, ruleset, config_path=cfg_path, on_alarm=on_alarm).run()
