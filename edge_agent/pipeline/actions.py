"""The action stage: what the gateway does about an alarm, after the alarm is stored.

It hears every committed alarm transition (a Commit listener) and queues the ones a
rule file's `[[actions]]` answer; its task then decides each target write in turn:

    min_interval_s  ─► manual hold-off ─► interlocks (read now) ─► dry-run? ─► write
       blocked            blocked            blocked                dry-run     done/failed

Every decision is an `ActionEvent`, stored with its outbox row before anything can
publish it. A write is noted as `pending` in the store before its frame goes out, so a
gateway that stops between the write and its event settles it at the next start by
reading the point back: the event still arrives, once. A failed write raises an alarm
of kind `action` on its point (detection keeps it until a write there succeeds).
Operators' writes (`write` command, `edge-agent write`) take the same path with
`action = "command"` and hold automatic actions off the point for a while.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from drivers.bus import BusLine
from drivers.profiles import Profile
from drivers.write import WriteRefusedError, read_point, refusal, write_point
from edge_agent.clock import now_ms
from edge_agent.config import DeviceConfig, GatewayConfig
from edge_agent.config.actions import resolve
from edge_agent.errors import EdgeAgentError
from edge_agent.pipeline.commit import Commit
from edge_agent.pipeline.detection import ACTION_KIND, Detection
from edge_agent.pipeline.upkeep import STORE_FAULTS
from edge_agent.records import (
    COMMAND_ACTION,
    ActionEvent,
    ActionState,
    AlarmState,
    AlarmTransition,
)
from edge_agent.store import Store
from rules.alarms import new_alarm_id
from rules.spec import Action, Interlock, RuleSet, Target

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000


class WriteRefused(EdgeAgentError):  # noqa: N818 - a refusal, not a fault of the gateway
    """An operator's write that was not made: unknown point, not writable, out of range."""


class ActionStage:
    """Decides and carries out the actions of the rule files, and operators' writes."""

    def __init__(
        self,
        cfg: GatewayConfig,
        profiles: Mapping[str, Profile],
        ruleset: RuleSet,
        store: Store,
        commit: Commit,
        detection: Detection,
    ) -> None:
        self.setting = cfg.gateway.actions
        self.gateway_id = cfg.gateway.id
        self.devices = {d.name: d for d in cfg.devices if d.enabled}
        self.profiles = profiles
        self.ruleset = ruleset
        self.store = store
        self.commit = commit
        self.detection = detection
        self.buses: Mapping[str, BusLine] = {}  # the open buses, given at run
        self.queue: asyncio.Queue[AlarmTransition] = asyncio.Queue(maxsize=QUEUE_SIZE)
        active = [t.alarm_id for t in detection.active()]
        # (action, alarm_id, device/point) acted on: not repeated, also after a restart.
        self.taken: set[tuple[str, str, str]] = store.actions_taken(active)
        self._last: dict[tuple[str, str], float] = {}  # (action, device/point) -> t_mono
        self._manual: dict[str, float] = {}  # device/point -> t_mono of an operator's write
        self._unstored: list[tuple[ActionEvent, int | None]] = []
        self.counters = {"decided": 0, "done": 0, "failed": 0, "blocked": 0, "dry-run": 0}
        self.listeners: list[Callable[[ActionEvent], None]] = []

    # -- hearing alarms -----------------------------------------------------------------

    def bound(self, t: AlarmTransition) -> list[Action]:
        return [a for a in self.ruleset.actions if a.on.rule == t.rule]

    def on_alarm(self, t: AlarmTransition) -> None:
        """Commit listener: queue a stored transition that an action answers."""
        if self.setting == "off" or t.kind == ACTION_KIND or not self.bound(t):
            return
        try:
            self.queue.put_nowait(t)
        except asyncio.QueueFull:
            log.error("action queue full, transition not acted on alarm=%s", t.alarm_id)

    async def run(self) -> None:
        """Settle writes left under way by the last run, finish the actions of alarms
        still active (targets not yet acted on), then act on queued alarms."""
        await self.settle_pending()
        await self.resume()
        while True:
            t = await self.queue.get()
            try:
                await self.handle(t)
            except Exception:
                log.exception("action handling failed alarm=%s rule=%s", t.alarm_id, t.rule)

    async def resume(self) -> list[ActionEvent]:
        """After a restart: alarms still active whose actions were not (all) taken."""
        out: list[ActionEvent] = []
        for t in self.detection.active():
            if t.kind != ACTION_KIND and self.setting != "off" and self.bound(t):
                out += await self.handle(replace(t, state=AlarmState.RAISED))
        return out

    def _acted(self, action: Action, alarm_id: str) -> bool:
        return any(a == action.id and i == alarm_id for a, i, _ in self.taken)

    async def handle(self, t: AlarmTransition) -> list[ActionEvent]:
        """Every decision the actions bound to `t`'s rule make about it. A target already
        acted on for this alarm is not acted on again (also not after a restart)."""
        self.flush()
        out: list[ActionEvent] = []
        for action in self.bound(t):
            if not action.runs_in(self.detection.mode):
                continue
            if t.state in (AlarmState.RAISED, AlarmState.LEVEL_CHANGED):
                if not action.on.fires_at(t.level):
                    continue
                targets = action.set
            elif t.state is AlarmState.CLEARED and self._acted(action, t.alarm_id):
                targets = action.on_clear
            else:
                continue
            for target in targets:
                for device, point in self._targets(action, target, t):
                    mark = (action.id, t.alarm_id, f"{device.name}/{point}")
                    if t.state is not AlarmState.CLEARED and mark in self.taken:
                        continue
                    e = await self._decide(action, t, device, point, target.value)
                    if e.state in (ActionState.DONE, ActionState.DRY_RUN):
                        self.taken.add(mark)
                    out.append(e)
        if t.state is AlarmState.CLEARED:  # the alarm is over: forget what was done for it
            self.taken = {m for m in self.taken if m[1] != t.alarm_id}
        return out

    # -- one decision --------------------------------------------------------------------

    async def _decide(
        self, action: Action, t: AlarmTransition, device: DeviceConfig, point: str, value: float
    ) -> ActionEvent:
        event = ActionEvent(
            event_id=new_alarm_id(now_ms()), ts_ms=now_ms(), device=device.name, point=point,
            action=action.id, alarm_id=t.alarm_id, value=value, state=ActionState.BLOCKED,
        )  # fmt: skip
        clearing = t.state is AlarmState.CLEARED
        why = await self._blocked(action, t, event, clearing)
        if why is not None:
            return self._record(replace(event, reason=why))
        if not clearing:
            self._last[(action.id, event.key)] = time.monotonic()
        if self.setting != "auto":
            reason = '[gateway] actions = "dry-run": decided, not written'
            return self._record(replace(event, state=ActionState.DRY_RUN, reason=reason))
        return await self._write(device, event)

    async def _blocked(
        self, action: Action, t: AlarmTransition, e: ActionEvent, clearing: bool
    ) -> str | None:
        """Why the write may not be made now. `min_interval_s` and the interlocks guard
        `set`; an `on_clear` write (a siren off) is held back only by an operator."""
        now = time.monotonic()
        last = self._last.get((action.id, e.key))
        if not clearing and last is not None and now - last < action.min_interval_s:
            return f"min_interval_s {action.min_interval_s:g}: last done {now - last:.0f} s ago"
        manual = self._manual.get(e.key)
        if manual is not None and now - manual < action.manual_hold_off_s:
            return (
                f"operator wrote {e.key} {now - manual:.0f} s ago "
                f"(manual_hold_off_s {action.manual_hold_off_s:g})"
            )
        for lock in () if clearing else action.unless:
            for dev, name in self._targets(action, lock, t):
                got = await self._read(dev, name)
                if isinstance(got, str):
                    return f"interlock {dev.name}/{name} unreadable: {got}"
                if lock.holds(got):
                    return f"interlock {dev.name}/{name} {lock.describe()} (read {got:g})"
        return None

    def _targets(
        self, action: Action, ref: Target | Interlock, t: AlarmTransition
    ) -> list[tuple[DeviceConfig, str]]:
        """The devices and points a ref names for this alarm, where the point exists."""
        pairs = resolve(action, ref, self.devices.get(t.device), list(self.devices.values()))
        names = {d.name: {x.name for x in self.profiles[d.profile].points}
                 for d, _ in pairs if d.profile in self.profiles}  # fmt: skip
        return [(d, p) for d, p in pairs if p in names.get(d.name, ())]

    async def _read(self, device: DeviceConfig, point: str) -> float | str:
        """A fresh value of a point, or why there is none."""
        bus = self.buses.get(device.bus)
        profile = self.profiles.get(device.profile)
        if bus is None or profile is None:
            return "its bus is not open"
        try:
            pv = await read_point(bus, device.unit, profile, point)
        except KeyError:
            return f"no point {point}"
        if pv.quality == "bad" or math.isnan(pv.value):
            return pv.reason or "bad reading"
        return pv.value

    async def _write(self, device: DeviceConfig, event: ActionEvent) -> ActionEvent:
        bus = self.buses.get(device.bus)
        profile = self.profiles.get(device.profile)
        if bus is None or profile is None:
            failed = replace(event, state=ActionState.FAILED, reason="its bus is not open")
            return self._record(failed)
        try:
            note: int | None = self.store.begin_action(replace(event, state=ActionState.PENDING))
        except STORE_FAULTS as err:
            # Act anyway: a safety write outranks the bookkeeping; the event is held.
            log.error("cannot note the write before making it reason=%s", err)
            note = None
        try:
            out = await write_point(bus, device.unit, profile, event.point, event.value)
        except (WriteRefusedError, KeyError) as err:
            return self._record(replace(event, state=ActionState.FAILED, reason=str(err)), note)
        done = replace(
            event, ts_ms=now_ms(), state=ActionState.DONE if out.ok else ActionState.FAILED,
            reason=out.reason, read_back=out.read_back,
        )  # fmt: skip
        log.info(
            "action %s action=%s point=%s value=%g read_back=%s write_ms=%.1f reason=%s",
            done.state, done.action, done.key, done.value, done.read_back,
            out.duration_s * 1000, done.reason,
        )  # fmt: skip
        return self._record(done, note)

    def _record(self, event: ActionEvent, note: int | None = None) -> ActionEvent:
        """Store the decision (owed to the platform), then raise or clear its alarm."""
        self.counters["decided"] += 1
        self.counters[str(event.state)] = self.counters.get(str(event.state), 0) + 1
        if event.state is not ActionState.DONE:
            log.info("action %s action=%s point=%s reason=%s", event.state, event.action,
                     event.key, event.reason)  # fmt: skip
        self._unstored.append((event, note))
        self.flush()
        self.commit.alarms(self.detection.on_action(event))
        for listener in self.listeners:
            listener(event)
        return event

    def flush(self) -> None:
        """Store held decisions (a full disk held them); called on each decision and tick."""
        while self._unstored:
            event, note = self._unstored[0]
            try:
                self.store.finish_action(event, self.gateway_id, note)
            except STORE_FAULTS as err:
                log.error("cannot store action events, holding them held=%d reason=%s",
                          len(self._unstored), err)  # fmt: skip
                return
            self._unstored.pop(0)

    # -- operators' writes and restarts ----------------------------------------------------

    async def command_write(self, key: str, value: float) -> ActionEvent:
        """An operator's write of one point (`write` command, `edge-agent write`): made
        whatever `[gateway] actions` says, audited as an action event with action
        "command". WriteRefused (also recorded, as blocked) when it may not be made."""
        name, _, point = key.partition("/")
        device = self.devices.get(name)
        event = ActionEvent(
            event_id=new_alarm_id(now_ms()), ts_ms=now_ms(), device=name, point=point,
            action=COMMAND_ACTION, alarm_id=None, value=value, state=ActionState.BLOCKED,
        )  # fmt: skip
        if device is None:
            raise WriteRefused(f"no device {name!r} is polled on this gateway")
        profile = self.profiles[device.profile]
        try:
            why = refusal(profile.point(point), value)
        except KeyError:
            names = ", ".join(p.name for p in profile.points if p.writable) or "none"
            raise WriteRefused(
                f"device {name!r} has no point {point!r} (writable: {names})"
            ) from None
        if why is not None:
            self._record(replace(event, reason=why))
            raise WriteRefused(why)
        self._manual[key] = time.monotonic()
        return await self._write(device, event)

    async def settle_pending(self) -> list[ActionEvent]:
        """Writes noted as under way when the gateway stopped: read each point back and
        publish what became of it (done when it holds the value, else failed)."""
        out = []
        for note, e in self.store.pending_actions():
            device = self.devices.get(e.device)
            got = "device no longer configured" if device is None else await self._read(
                device, e.point
            )  # fmt: skip
            if isinstance(got, float) and abs(got - e.value) <= 1e-6 * max(1.0, abs(e.value)):
                state, reason = ActionState.DONE, "gateway stopped during the write; read back"
            else:
                state = ActionState.FAILED
                seen = got if isinstance(got, str) else f"read back {got:g}"
                reason = f"gateway stopped during the write; {seen}"
            settled = replace(e, ts_ms=now_ms(), state=state, reason=reason,
                              read_back=got if isinstance(got, float) else None)  # fmt: skip
            log.warning("write settled after a restart point=%s state=%s", e.key, state)
            out.append(self._record(settled, note))
        return out

    def recent(self, n: int) -> Sequence[ActionEvent]:
        return self.store.recent_actions(n)
