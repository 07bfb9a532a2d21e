"""The detection stage: the rule engine over the bound points, plus each device's own
link alarm (kind `device`, rule `offline`), with one view of every active alarm.

Everything that changes alarms goes through here (samples, time, ack, reload, mode),
and every method returns the transitions it caused, for the store to commit first.

Time: the engine runs on each reading's monotonic rule time (edge_agent.clock), so a
wall-clock step neither holds nor hurries a delay, a window or a stale timer. What
leaves this stage carries wall time: the engine's transitions are turned back into
wall time with the clock as it stands (after a step, the corrected one).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from edge_agent.clock import Clock
from edge_agent.config import DeviceConfig
from edge_agent.records import ActionEvent, ActionState, AlarmState, AlarmTransition, DevicePoll
from rules.alarms import new_alarm_id
from rules.engine import Engine
from rules.events import PointMeta
from rules.spec import RuleSet

log = logging.getLogger(__name__)

DEVICE_POINT = "_device"  # the `point` of a device's own alarms (profile points never start with _)
DEVICE_KIND = "device"
OFFLINE_RULE = "offline"
OFFLINE_LEVEL = 3  # yellow: dispatch an inspection
ACTION_KIND = "action"  # a write the gateway decided (or was asked for) failed
ACTION_LEVEL = 2  # orange: a safety action did not happen


class Detection:
    def __init__(
        self,
        ruleset: RuleSet,
        points: Sequence[PointMeta],
        devices: Sequence[DeviceConfig],
        mode: str,
        stored_active: Sequence[AlarmTransition] = (),
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or Clock()
        self.points = list(points)
        self.devices = {d.name: d for d in devices}
        self.engine = Engine(ruleset, self.points, mode=mode)
        self._index = {m.key: self.engine.index(m.key) for m in self.points}
        self.device_alarms: dict[str, AlarmTransition] = {}
        # Failed writes, by `device/point`: active until a write to the point succeeds.
        self.action_alarms: dict[str, AlarmTransition] = {
            f"{t.device}/{t.point}": t for t in stored_active if t.kind == ACTION_KIND
        }
        rule_alarms = [t for t in stored_active if t.kind not in (DEVICE_KIND, ACTION_KIND)]
        # Alarms whose rule or point is gone since the last run are closed, not forgotten.
        self.orphans = self.engine.restore(rule_alarms)
        for t in stored_active:
            if t.kind == DEVICE_KIND and t.device in self.devices:
                self.device_alarms[t.device] = t
            elif t.kind == DEVICE_KIND:
                now = self.clock.wall_now()
                self.orphans.append(replace(t, ts_ms=now, state=AlarmState.CLEARED))

    @property
    def mode(self) -> str:
        return self.engine.mode

    @property
    def ruleset(self) -> RuleSet:
        return self.engine.ruleset

    def on_poll(self, poll: DevicePoll) -> list[AlarmTransition]:
        out = self._link(poll)
        rows = [(self._index[r.key], r) for r in poll.readings if r.key in self._index]
        if rows:
            out += self._wall(self.engine.process_batch(
                np.array([i for i, _ in rows], dtype=np.int64),
                np.array([r.rule_ts_ms for _, r in rows], dtype=np.int64),
                np.array([r.value for _, r in rows], dtype=np.float64),
                np.array([r.usable for _, r in rows], dtype=np.int8),
            ))  # fmt: skip
        return out

    def _wall(self, transitions: Sequence[AlarmTransition]) -> list[AlarmTransition]:
        """The engine's transitions (rule time) in wall time, for the record."""
        to_wall = self.clock.to_wall
        return [replace(t, ts_ms=to_wall(t.ts_ms)) for t in transitions]

    def _link(self, poll: DevicePoll) -> list[AlarmTransition]:
        dev = self.devices.get(poll.device)
        if dev is None:
            return []
        current = self.device_alarms.get(poll.device)
        if poll.link == "offline" and current is None:
            t = AlarmTransition(
                alarm_id=new_alarm_id(poll.ts_ms),
                ts_ms=poll.ts_ms,
                device=poll.device,
                point=DEVICE_POINT,
                rule=OFFLINE_RULE,
                kind=DEVICE_KIND,
                level=OFFLINE_LEVEL,
                state=AlarmState.RAISED,
                value=float(dev.offline_after),
                limit=float(dev.offline_after),
                unit="failed polls",
            )
            self.device_alarms[poll.device] = t
            return [t]
        if poll.ok and current is not None:
            # Also after a restart: a restored offline alarm clears on the first answer.
            del self.device_alarms[poll.device]
            return [replace(current, ts_ms=poll.ts_ms, state=AlarmState.CLEARED, value=0.0)]
        return []

    def tick(self) -> list[AlarmTransition]:
        """Time passes (stale points, composite expiry), on the monotonic rule time."""
        return self._wall(self.engine.tick(self.clock.rule_now()))

    def active(self) -> list[AlarmTransition]:
        return (
            self._wall(self.engine.active())
            + list(self.device_alarms.values())
            + list(self.action_alarms.values())
        )

    def clock_stepped(self, step_ms: int) -> None:
        """Repair the wall times of the device alarms held here after a wall-clock step
        (the engine's are in rule time and need none)."""
        self.device_alarms = {
            d: replace(t, ts_ms=t.ts_ms + step_ms) for d, t in self.device_alarms.items()
        }
        self.action_alarms = {
            k: replace(t, ts_ms=t.ts_ms + step_ms) for k, t in self.action_alarms.items()
        }

    def on_action(self, event: ActionEvent) -> list[AlarmTransition]:
        """A failed write raises an alarm of kind `action` on its point (once while it
        lasts); a successful one clears it."""
        current = self.action_alarms.get(event.key)
        if event.state is ActionState.FAILED and current is None:
            t = AlarmTransition(
                alarm_id=new_alarm_id(event.ts_ms), ts_ms=event.ts_ms, device=event.device,
                point=event.point, rule=event.action, kind=ACTION_KIND, level=ACTION_LEVEL,
                state=AlarmState.RAISED, value=event.value,
                limit=float("nan") if event.read_back is None else event.read_back, unit="",
            )  # fmt: skip
            self.action_alarms[event.key] = t
            return [t]
        if event.state is ActionState.DONE and current is not None:
            del self.action_alarms[event.key]
            return [replace(current, ts_ms=event.ts_ms, state=AlarmState.CLEARED)]
        return []

    def devices_in_alarm(self) -> set[str]:
        return {t.device for t in self.active()}

    def ack(self, alarm_id: str) -> AlarmTransition | None:
        now = self.clock.now()
        for own in (self.device_alarms, self.action_alarms):
            for key, t in own.items():
                if t.alarm_id == alarm_id:
                    if t.state is AlarmState.ACKED:
                        return None
                    acked = replace(t, ts_ms=now.wall_ms, state=AlarmState.ACKED)
                    own[key] = acked
                    return acked
        acked_rule = self.engine.ack(alarm_id, now.rule_ms)
        return None if acked_rule is None else self._wall([acked_rule])[0]

    def reload(self, ruleset: RuleSet) -> list[AlarmTransition]:
        """Swap in new rules atomically; unchanged bindings keep state and alarms."""
        engine, cleared = self.engine.reload(ruleset, self.clock.rule_now())
        self.engine = engine
        self._index = {m.key: engine.index(m.key) for m in self.points}
        return self._wall(cleared)

    def set_mode(self, mode: str) -> list[AlarmTransition]:
        return self._wall(self.engine.set_mode(mode, self.clock.rule_now()))
