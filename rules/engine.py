"""The rule engine: runs the kernels over samples and turns level changes into alarm transitions.

    engine = Engine(load_rules(["water"], base), points, mode="normal")
    transitions = engine.process(engine.index("pt-101/pressure"), ts_ms, 0.12, 1)

An alarm is one (rule, point) binding at a level > 0. It gets a new id when
raised (`{ts_ms:012x}{random:08x}`, so ids sort by time and never repeat
across restarts), keeps it through level changes, and loses it on clear.
`ack` marks it acknowledged; it stays active until its condition clears.
`restore` takes the store's active alarms after a restart so they continue
with the same ids and are not raised twice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from rules.compile import Binding, Csr, bind_rules, in_mode
from rules.errors import RuleError
from rules.events import AlarmState, AlarmTransition, PointMeta
from rules.spec import RuleSet
from rules.tables import TABLES, KindTable


def new_alarm_id(ts_ms: int) -> str:
    return f"{ts_ms & 0xFFFFFFFFFFFF:012x}{os.urandom(4).hex()}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class _Alarm:
    last: AlarmTransition  # the latest raised / level-changed / acked transition
    acked: bool = False


class Engine:
    """All bindings of a rule set over a fixed list of points, with their alarms."""

    def __init__(self, ruleset: RuleSet, points: Sequence[PointMeta], mode: str = "normal") -> None:
        self.ruleset = ruleset
        self.points: tuple[PointMeta, ...] = tuple(points)
        self._index = {p.key: i for i, p in enumerate(self.points)}
        if len(self._index) != len(self.points):
            keys = [p.key for p in self.points]
            dup = sorted({k for k in keys if keys.count(k) > 1})
            raise RuleError([("<points>", "", f"duplicate point keys: {dup}")])
        self.tables: dict[str, KindTable] = {}
        for kind, bindings in bind_rules(ruleset, self.points).items():
            self.tables[kind] = TABLES[kind](bindings, self.points)
        self._alarms: dict[tuple[str, int], _Alarm] = {}
        self._ids: dict[str, tuple[str, int]] = {}
        self.mode = mode
        self._csr = {
            k: Csr.build(t.bindings, len(self.points), mode) for k, t in self.tables.items()
        }

    # -- lookup -------------------------------------------------------------------------------

    def index(self, key: str) -> int:
        """The point index of `device/point` (raises KeyError when unknown)."""
        return self._index[key]

    def binding(self, kind: str, b: int) -> Binding:
        return self.tables[kind].bindings[b]

    # -- samples --------------------------------------------------------------------------------

    def process(self, point_idx: int, ts_ms: int, value: float, good: int) -> list[AlarmTransition]:
        """One sample of one point; `good` is 1 for usable quality, 0 for bad."""
        return self.process_batch(
            np.array([point_idx], dtype=np.int64),
            np.array([ts_ms], dtype=np.int64),
            np.array([value], dtype=np.float64),
            np.array([good], dtype=np.int8),
        )

    def process_batch(
        self, point_idx: np.ndarray, ts_ms: np.ndarray, value: np.ndarray, good: np.ndarray
    ) -> list[AlarmTransition]:
        """Samples in time order (per point); transitions in time order."""
        out: list[AlarmTransition] = []
        for kind, table in self.tables.items():
            bind, sample = self._csr[kind].expand(point_idx)
            if bind.shape[0] == 0:
                continue
            ts = np.ascontiguousarray(ts_ms[sample])
            val = np.ascontiguousarray(value[sample])
            level, limit, eta = table.run(bind, ts, val, np.ascontiguousarray(good[sample]))
            for i in np.flatnonzero(level >= 0):
                e = None if eta is None else float(eta[i])
                out.append(
                    self._transition(kind, int(bind[i]), int(level[i]), int(ts[i]),
                                     float(val[i]), float(limit[i]), e)
                )  # fmt: skip
        if len(self.tables) > 1:
            out.sort(key=lambda t: t.ts_ms)
        return out

    # -- alarm lifecycle ------------------------------------------------------------------------

    def _transition(
        self, kind: str, b: int, level: int, ts_ms: int, value: float, limit: float,
        eta_s: float | None,
    ) -> AlarmTransition:  # fmt: skip
        bd = self.tables[kind].bindings[b]
        meta = self.points[bd.point_idx]
        key = (kind, b)
        alarm = self._alarms.get(key)
        if level == 0:
            state = AlarmState.CLEARED
            alarm_id = alarm.last.alarm_id if alarm else new_alarm_id(ts_ms)
            old_level = alarm.last.level if alarm else 0
        elif alarm is None:
            state, alarm_id, old_level = AlarmState.RAISED, new_alarm_id(ts_ms), 0
        else:
            state, alarm_id, old_level = AlarmState.LEVEL_CHANGED, alarm.last.alarm_id, 0
        tr = AlarmTransition(
            alarm_id=alarm_id, ts_ms=ts_ms, device=meta.device, point=meta.point,
            rule=bd.rule.id, kind=kind, level=level or old_level, state=state,
            value=value, limit=limit, unit=meta.unit,
            eta_s=None if eta_s is None or np.isnan(eta_s) else eta_s,
        )  # fmt: skip
        if level == 0:
            if alarm is not None:
                del self._alarms[key]
                self._ids.pop(alarm_id, None)
        elif alarm is None:
            self._alarms[key] = _Alarm(tr)
            self._ids[alarm_id] = key
        else:
            alarm.last = tr
        return tr

    def active(self) -> list[AlarmTransition]:
        """The latest transition of every active alarm (state `acked` once acknowledged)."""
        out = []
        for a in self._alarms.values():
            out.append(replace(a.last, state=AlarmState.ACKED) if a.acked else a.last)
        return sorted(out, key=lambda t: (t.ts_ms, t.alarm_id))

    def ack(self, alarm_id: str, ts_ms: int) -> AlarmTransition | None:
        """Acknowledge an active alarm; None when no active alarm has this id."""
        key = self._ids.get(alarm_id)
        if key is None:
            return None
        alarm = self._alarms[key]
        alarm.acked = True
        return replace(alarm.last, ts_ms=ts_ms, state=AlarmState.ACKED)

    def restore(self, active: Iterable[AlarmTransition]) -> list[AlarmTransition]:
        """Resume alarms stored before a restart, same ids, no duplicate raise.

        Returns `cleared` transitions for stored alarms whose rule or point no
        longer exists (or does not run in this mode), so the store can close them.
        """
        where = {
            (t.bindings[b].rule.id, self.points[t.bindings[b].point_idx].key): (kind, b)
            for kind, t in self.tables.items()
            for b in range(t.n)
        }
        orphans: list[AlarmTransition] = []
        for tr in active:
            key = where.get((tr.rule, f"{tr.device}/{tr.point}"))
            if key is None or key in self._alarms or not (1 <= tr.level <= 4):
                orphans.append(replace(tr, state=AlarmState.CLEARED))
                continue
            kind, b = key
            if not in_mode(self.tables[kind].bindings[b].rule, self.mode):
                orphans.append(replace(tr, state=AlarmState.CLEARED))
                continue
            self.tables[kind].restore(b, tr.level)
            acked = tr.state is AlarmState.ACKED
            last = replace(tr, state=AlarmState.RAISED) if acked else tr
            self._alarms[key] = _Alarm(last, acked)
            self._ids[tr.alarm_id] = key
        return orphans

    # -- modes ----------------------------------------------------------------------------------

    def set_mode(self, mode: str, ts_ms: int | None = None) -> list[AlarmTransition]:
        """Switch the operating mode; alarms of rules that do not run in it are cleared."""
        ts = now_ms() if ts_ms is None else ts_ms
        self.mode = mode
        self._csr = {
            k: Csr.build(t.bindings, len(self.points), mode) for k, t in self.tables.items()
        }
        out: list[AlarmTransition] = []
        for kind, table in self.tables.items():
            for b, bd in enumerate(table.bindings):
                if in_mode(bd.rule, mode):
                    continue
                alarm = self._alarms.get((kind, b))
                if alarm is not None:
                    out.append(self._transition(kind, b, 0, ts, alarm.last.value,
                                                alarm.last.limit, None))  # fmt: skip
                table.reset(b)
        return out
