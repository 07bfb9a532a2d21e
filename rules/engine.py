"""The rule engine: runs the kernels over samples and turns level changes into alarm transitions.

    engine = Engine(load_rules(["water"], base), points, mode="normal")
    transitions = engine.process(engine.index("pt-101/pressure"), ts_ms, 0.12, 1)
    transitions += engine.tick(ts_ms)           # every few seconds: stale, composite expiry
                                                # (process_batch also ticks on sample time)

Samples go to every sample kind's table (one kernel call per kind per
batch); their level changes become transitions (rules.alarms) and are fed,
in time order, to the composite table. `restore` resumes the store's active
alarms after a restart, same ids, no duplicate raise; `reload` builds a new
engine for new rules and carries over the state of unchanged bindings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from rules.alarms import AlarmBook, Key
from rules.compile import Binding, Csr, bind_rules, in_mode
from rules.errors import RuleError
from rules.events import AlarmState, AlarmTransition, Evidence, Member, PointMeta
from rules.sampling import NotAssessing, not_assessing
from rules.spec import CompositeRule, RuleBase, RuleSet
from rules.tables import SAMPLE_TABLES, CompositeTable, KindTable
from rules.tables.baseline import BaselineTable

# (ts_ms, kind, binding, new level, value, limit, eta_s, evidence) of one kernel output
Change = tuple[int, str, int, int, float, float, float | None, Evidence | None]


class Engine:
    """All bindings of a rule set over a fixed list of points, with their alarms."""

    def __init__(
        self,
        ruleset: RuleSet,
        points: Sequence[PointMeta],
        mode: str = "normal",
        tick_every_ms: int = 5_000,
    ) -> None:
        self.ruleset = ruleset
        # process_batch ticks by itself when the samples' time has moved on this much since
        # the last tick, so stale and composite expiry work even if the caller never ticks
        self.tick_every_ms = tick_every_ms
        self._last_tick: int | None = None
        self.points: tuple[PointMeta, ...] = tuple(points)
        self._index = {p.key: i for i, p in enumerate(self.points)}
        if len(self._index) != len(self.points):
            dup = sorted(k for k, c in Counter(p.key for p in self.points).items() if c > 1)
            raise RuleError([("<points>", "", f"duplicate point keys: {dup}")])
        self.tables: dict[str, KindTable] = {
            kind: SAMPLE_TABLES[kind](bindings, self.points)
            for kind, bindings in bind_rules(ruleset, self.points).items()
        }
        composites = [r for r in ruleset.rules if isinstance(r, CompositeRule) and r.enabled]
        self.composite = CompositeTable(composites, self.tables, self.points)
        self.book = AlarmBook()
        # bindings that can never raise at their point's poll interval: said, not silent
        self.not_assessing: list[NotAssessing] = not_assessing(ruleset, self.points)
        self._silent = frozenset(r.id for r in ruleset.rules if not r.notify)
        self.mode = mode
        self._build_mode_index()

    def _all_tables(self) -> dict[str, KindTable]:
        return {**self.tables, "composite": self.composite}

    def _build_mode_index(self) -> None:
        n = len(self.points)
        self._csr = {k: Csr.build(t.bindings, n, self.mode) for k, t in self.tables.items()}
        self._enabled = {
            k: np.array([in_mode(bd.rule, self.mode) for bd in t.bindings], dtype=np.int8)
            for k, t in self._all_tables().items()
        }

    # -- lookup ---------------------------------------------------------------------------------

    def index(self, key: str) -> int:
        """The point index of `device/point` (raises KeyError when unknown)."""
        return self._index[key]

    def find(self, key: str) -> int:
        """The point index of `device/point`, or -1 when unknown."""
        return self._index.get(key, -1)

    def binding(self, kind: str, b: int) -> Binding:
        return self._all_tables()[kind].bindings[b]

    def bindings(self) -> list[tuple[str, Binding]]:
        """Every (kind, binding), for `rules check` style listings."""
        return [(k, bd) for k, t in self._all_tables().items() for bd in t.bindings]

    # -- samples and time -----------------------------------------------------------------------

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
        """Samples in time order (int64, int64, float64, int8 columns); transitions likewise."""
        changes: list[Change] = []
        for kind, table in self.tables.items():
            bind, sample = self._csr[kind].expand(point_idx)
            if bind.shape[0] == 0:
                continue
            ts = np.ascontiguousarray(ts_ms[sample])
            val = np.ascontiguousarray(value[sample])
            level, limit, eta = table.run(bind, ts, val, np.ascontiguousarray(good[sample]))
            # a kind whose alarm value is not the reading (night_flow: the night's MNF)
            shown = getattr(table, "values", None)
            for i in np.flatnonzero(level >= 0):
                e = None if eta is None else float(eta[i])
                v = float(val[i]) if shown is None else float(shown[i])
                b, lv, lim = int(bind[i]), int(level[i]), float(limit[i])
                ev = table.evidence(int(i), b, v, lim) if lv > 0 else None
                changes.append((int(ts[i]), kind, b, lv, v, lim, e, ev))
        out = self._apply(changes)
        if ts_ms.shape[0] and self.tick_every_ms > 0:
            t_last = int(ts_ms[-1])
            if self._last_tick is None or t_last - self._last_tick >= self.tick_every_ms:
                out += self.tick(t_last)
        return out

    def tick(self, ts_ms: int) -> list[AlarmTransition]:
        """Time passes: stale points are raised, composite windows expire. Call every few s."""
        now = ts_ms
        self._last_tick = ts_ms
        changes: list[Change] = []
        for kind, table in self.tables.items():
            level = table.tick(now, self._enabled[kind])
            if level is None:
                continue
            after_ms = getattr(table, "after_ms", None)
            for b in np.flatnonzero(level >= 0):
                lim = float(after_ms[b]) / 1000.0 if after_ms is not None else float("nan")
                ev = table.tick_evidence(int(b)) if level[b] > 0 else None
                changes.append((ts_ms, kind, int(b), int(level[b]), float("nan"), lim, None, ev))
        out = self._apply(changes)
        level = self.composite.tick(now, self._enabled["composite"])
        assert level is not None
        for b in np.flatnonzero(level >= 0):
            ev = self._members_evidence(int(b), ts_ms, None) if level[b] > 0 else None
            out.append(self._transition("composite", int(b), int(level[b]), ts_ms,
                                        float("nan"), float("nan"), None, ev))  # fmt: skip
        return self._audible(out)

    def _apply(self, changes: list[Change]) -> list[AlarmTransition]:
        changes.sort(key=lambda c: c[0])  # stable: kinds keep their order within one ts
        out = [
            self._transition(k, b, lv, t, v, lim, e, ev) for t, k, b, lv, v, lim, e, ev in changes
        ]
        return self._audible(out + self._couple(changes))

    def _audible(self, transitions: list[AlarmTransition]) -> list[AlarmTransition]:
        """Drop the transitions of `notify = false` rules (they only feed composites), and a
        clear of a binding that held no alarm (level 0: nothing was ever raised to clear)."""
        return [t for t in transitions if t.rule not in self._silent and t.level > 0]

    def _couple(self, changes: Sequence[Change]) -> list[AlarmTransition]:
        """Feed member level changes to the composite bindings they fill."""
        route, enabled = self.composite.route, self._enabled["composite"]
        events = [
            (t, cb, s, lv, v, lim, e, ev)
            for t, k, b, lv, v, lim, e, ev in changes
            for cb, s in route.get((k, b), ())
            if enabled[cb]
        ]
        if not events:
            return []
        comp = self.composite
        for t, cb, s, lv, v, _, _, mev in events:
            if lv > 0:  # what each member said when it was raised, for the evidence
                p = self.points[int(comp.slot_point[cb, s])]
                rule = comp.bindings[cb].rule.of[int(comp.slot_rule[cb, s])]  # type: ignore[attr-defined]
                delta = None if mev is None else mev.delta
                comp.slot_member[(cb, s)] = Member(p.device, p.point, rule, t, v, delta)
        arr = np.array([(cb, s, t, lv) for t, cb, s, lv, _, _, _, _ in events], dtype=np.int64)
        level = self.composite.feed(
            np.ascontiguousarray(arr[:, 0]), np.ascontiguousarray(arr[:, 1]),
            np.ascontiguousarray(arr[:, 2]), arr[:, 3].astype(np.int8),
        )  # fmt: skip
        out = []
        for i in np.flatnonzero(level >= 0):
            # a composite reports the value, limit and eta of the member change that decided it
            t, cb, _, _, v, lim, e, evd = events[i]
            ev = self._members_evidence(cb, t, evd) if level[i] > 0 else None
            out.append(self._transition("composite", cb, int(level[i]), t, v, lim, e, ev))
        return out

    def _members_evidence(self, cb: int, ts_ms: int, decided: Evidence | None) -> Evidence:
        """A composite's evidence: its window, the deciding member's baseline, delta and eta,
        and every member alarm that counted (active, or raised within the window)."""
        comp = self.composite
        window = int(comp.window_ms[cb])
        members = [
            m
            for s in range(comp.slot_rule.shape[1])
            if (m := comp.slot_member.get((cb, s))) is not None
            and (comp.slot_active[cb, s] or ts_ms - m.ts_ms <= window)
        ]
        members.sort(key=lambda m: (m.ts_ms, m.device, m.point, m.rule))
        d = decided or Evidence()
        return Evidence(window_s=window / 1000.0, baseline=d.baseline, delta=d.delta,
                        slope=d.slope, eta_s=d.eta_s, members=tuple(members))  # fmt: skip

    def _transition(
        self, kind: str, b: int, level: int, ts_ms: int, value: float, limit: float,
        eta_s: float | None, evidence: Evidence | None = None,
    ) -> AlarmTransition:  # fmt: skip
        table = self.composite if kind == "composite" else self.tables[kind]
        meta = self.points[table.point_of(b)]
        return self.book.change(
            (kind, b),
            table.bindings[b].rule.id,
            meta,
            level,
            ts_ms,
            value,
            limit,
            eta_s,
            evidence,
        )

    # -- alarms ---------------------------------------------------------------------------------

    def active(self) -> list[AlarmTransition]:
        """The latest transition of every active alarm (state `acked` once acknowledged)."""
        return self._audible(self.book.active())

    def ack(self, alarm_id: str, ts_ms: int) -> AlarmTransition | None:
        """Acknowledge an active alarm; None when no active alarm has this id."""
        key = self.book.ids.get(alarm_id)
        if key is None or self.book.alarms[key].last.rule in self._silent:
            return None
        return self.book.ack(alarm_id, ts_ms)

    def _where(self) -> dict[tuple[str, str], Key]:
        """(rule id, point key) → (kind, binding); a composite answers for every slot point."""
        where = {
            (t.bindings[b].rule.id, self.points[t.bindings[b].point_idx].key): (kind, b)
            for kind, t in self.tables.items()
            for b in range(t.n)
        }
        comp = self.composite
        for cb in range(comp.n):
            for p in comp.slot_point[cb]:
                if p >= 0:
                    where[(comp.bindings[cb].rule.id, self.points[p].key)] = ("composite", cb)
        return where

    def restore(self, active: Iterable[AlarmTransition]) -> list[AlarmTransition]:
        """Resume alarms stored before a restart, same ids, no duplicate raise.

        Returns `cleared` transitions for stored alarms whose rule or point no
        longer exists (or does not run in this mode), so the store can close them.
        """
        where = self._where()
        orphans: list[AlarmTransition] = []
        for tr in active:
            key = where.get((tr.rule, f"{tr.device}/{tr.point}"))
            table = self._all_tables()[key[0]] if key else None
            if (
                key is None or table is None or key in self.book.alarms
                or not 1 <= tr.level <= 4 or not in_mode(table.bindings[key[1]].rule, self.mode)
            ):  # fmt: skip
                orphans.append(replace(tr, state=AlarmState.CLEARED))
                continue
            table.restore(key[1], tr.level, tr.ts_ms)
            if key[0] == "composite":
                self.composite.alarm_point[key[1]] = self._index[f"{tr.device}/{tr.point}"]
            self.book.resume(key, tr)
        return orphans

    def reload(self, ruleset: RuleSet, ts_ms: int) -> tuple[Engine, list[AlarmTransition]]:
        """A new engine for `ruleset` over the same points and mode, for an atomic swap.

        Bindings whose effective rule is unchanged keep their kernel state and
        their alarms (same ids); alarms of bindings that changed or vanished
        come back as `cleared` transitions (a changed rule re-raises if its
        condition still holds). `ts_ms` stamps the cleared transitions.
        """
        new = Engine(ruleset, self.points, self.mode, self.tick_every_ms)
        theirs = {
            (kind, t.bindings[b].rule.id, t.bindings[b].point_idx): (t, b)
            for kind, t in self._all_tables().items()
            for b in range(t.n)
        }
        carried: set[Key] = set()
        for kind, t in new._all_tables().items():
            for b, bd in enumerate(t.bindings):
                old = theirs.get((kind, bd.rule.id, bd.point_idx))
                if old is None or old[0].bindings[old[1]].rule != bd.rule:
                    continue
                if kind == "composite" and not self._same_members(ruleset, bd.rule):
                    continue
                t.adopt(b, old[0], old[1])
                alarm = self.book.alarms.get((kind, old[1]))
                if alarm is not None:
                    new.book.resume((kind, b), replace(alarm.last, state=AlarmState.ACKED)
                                    if alarm.acked else alarm.last)  # fmt: skip
                    carried.add((kind, old[1]))
        cleared = [
            replace(a.last, ts_ms=ts_ms, state=AlarmState.CLEARED)
            for key, a in self.book.alarms.items()
            if key not in carried
        ]
        return new, self._audible(cleared)

    def _same_members(self, ruleset: RuleSet, rule: RuleBase) -> bool:
        """Are a composite's member rules (and their overrides) the same in both rule sets?"""
        members = set(getattr(rule, "of", ()))

        def defs(rs: RuleSet) -> tuple[list[RuleBase], list[object]]:
            rules = [r for r in rs.rules if r.id in members]
            return rules, [o.override for o in rs.overrides if o.override.rule in members]

        return defs(self.ruleset) == defs(ruleset)

    # -- learned baselines ----------------------------------------------------------------------

    def learned(self) -> dict[tuple[str, str], dict[str, list[Any]]]:
        """Every baseline binding's learned state by (rule id, point key), for the store."""
        t = self.tables.get("baseline")
        if not isinstance(t, BaselineTable):
            return {}
        return {(bd.rule.id, self.points[bd.point_idx].key): t.learned(b)
                for b, bd in enumerate(t.bindings)}  # fmt: skip

    def learning(self) -> list[dict[str, Any]]:
        """Baseline bindings still in their cold start: rule, point, share of slots learned,
        and whether a fixed limit decides meanwhile (status, `rules check`)."""
        t = self.tables.get("baseline")
        if not isinstance(t, BaselineTable):
            return []
        out = []
        for b, bd in enumerate(t.bindings):
            warm = t.warm_fraction(b)
            if warm < 1.0:
                out.append({"rule": bd.rule.id, "point": self.points[bd.point_idx].key,
                            "learned": round(warm, 3),
                            "fixed_limit": not np.isnan(t.cold_limit[b])})  # fmt: skip
        return out

    def load_learned(self, stored: Mapping[tuple[str, str], dict[str, list[Any]]]) -> int:
        """Take back what the store kept (after a restart); returns the bindings restored.
        A binding whose slot layout changed (slot_s, weekends) starts learning again."""
        t = self.tables.get("baseline")
        if not isinstance(t, BaselineTable):
            return 0
        done = 0
        for b, bd in enumerate(t.bindings):
            data = stored.get((bd.rule.id, self.points[bd.point_idx].key))
            done += data is not None and t.load_learned(b, data)
        return done

    # -- modes ----------------------------------------------------------------------------------

    def set_mode(self, mode: str, ts_ms: int) -> list[AlarmTransition]:
        """Switch the operating mode; alarms of rules that do not run in it are cleared.

        `ts_ms` stamps the cleared transitions: rules never read the wall clock.
        """
        self.mode = mode
        self._build_mode_index()
        out: list[AlarmTransition] = []
        for kind, table in self._all_tables().items():
            for b, bd in enumerate(table.bindings):
                if in_mode(bd.rule, mode):
                    continue
                alarm = self.book.alarms.get((kind, b))
                if alarm is not None:
                    out.append(self._transition(kind, b, 0, ts_ms, alarm.last.value,
                                                alarm.last.limit, None))  # fmt: skip
                table.reset(b)
        return self._audible(out)
