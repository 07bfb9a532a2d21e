"""The alarm book: which (kind, binding) pairs hold an alarm, their ids, acks and transitions.

An alarm is one binding at a level > 0. It gets a new id when raised
(`{ts_ms:012x}{random:08x}`: ids sort by time and never repeat across
restarts), keeps it through level changes, and loses it on clear. `ack`
marks it acknowledged; it stays active until its condition clears. An escalation
(to a more severe level: a lower number) takes the acknowledgement back, so the new
level is acknowledged on its own; a step back down keeps it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

from rules.events import AlarmState, AlarmTransition, Evidence, PointMeta

Key = tuple[str, int]  # (kind, binding index)


def new_alarm_id(ts_ms: int) -> str:
    return f"{ts_ms & 0xFFFFFFFFFFFF:012x}{os.urandom(4).hex()}"


@dataclass
class Alarm:
    last: AlarmTransition  # the latest raised / level-changed transition
    acked: bool = False


class AlarmBook:
    def __init__(self) -> None:
        self.alarms: dict[Key, Alarm] = {}
        self.ids: dict[str, Key] = {}

    def change(
        self, key: Key, rule: str, meta: PointMeta, level: int, ts_ms: int, value: float,
        limit: float, eta_s: float | None, evidence: Evidence | None = None,
    ) -> AlarmTransition:  # fmt: skip
        """The transition for binding `key` going to `level` (0 = cleared), recorded."""
        alarm = self.alarms.get(key)
        if level == 0:
            state = AlarmState.CLEARED
            alarm_id = alarm.last.alarm_id if alarm else new_alarm_id(ts_ms)
            if alarm is not None:
                level = alarm.last.level
                device, point = alarm.last.device, alarm.last.point
                if math.isnan(limit):
                    limit = alarm.last.limit
        elif alarm is None:
            state, alarm_id = AlarmState.RAISED, new_alarm_id(ts_ms)
        else:
            state, alarm_id = AlarmState.LEVEL_CHANGED, alarm.last.alarm_id
        if not (state is AlarmState.CLEARED and alarm is not None):
            device, point = meta.device, meta.point
        tr = AlarmTransition(
            alarm_id=alarm_id, ts_ms=ts_ms, device=device, point=point, rule=rule,
            kind=key[0], level=level, state=state, value=value, limit=limit, unit=meta.unit,
            eta_s=None if eta_s is None or math.isnan(eta_s) else eta_s,
            evidence=None if state is AlarmState.CLEARED else evidence,
        )  # fmt: skip
        if state is AlarmState.CLEARED:
            if alarm is not None:
                del self.alarms[key]
                self.ids.pop(alarm_id, None)
        elif alarm is None:
            self.alarms[key] = Alarm(tr)
            self.ids[alarm_id] = key
        else:
            if level < alarm.last.level:
                alarm.acked = False  # worse than what was acknowledged: ask again
            alarm.last = tr
        return tr

    def active(self) -> list[AlarmTransition]:
        out = [
            replace(a.last, state=AlarmState.ACKED) if a.acked else a.last
            for a in self.alarms.values()
        ]
        return sorted(out, key=lambda t: (t.ts_ms, t.alarm_id))

    def ack(self, alarm_id: str, ts_ms: int) -> AlarmTransition | None:
        key = self.ids.get(alarm_id)
        if key is None:
            return None
        alarm = self.alarms[key]
        if alarm.acked:
            return None  # acknowledged once: a second ack publishes nothing new
        alarm.acked = True
        return replace(alarm.last, ts_ms=ts_ms, state=AlarmState.ACKED)

    def resume(self, key: Key, tr: AlarmTransition) -> None:
        """Take over a stored alarm (after a restart or a reload) under its own id."""
        acked = tr.state is AlarmState.ACKED
        self.alarms[key] = Alarm(replace(tr, state=AlarmState.RAISED) if acked else tr, acked)
        self.ids[tr.alarm_id] = key
