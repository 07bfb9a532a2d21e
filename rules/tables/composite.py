"""The composite table: (composite rule, scope value) bindings over other rules' bindings.

Built after the sample tables, since its slots are their bindings: for each
composite rule, every binding of a member rule whose point carries the scope
tag (and passes the composite's own selectors) becomes a slot of the
composite binding for that tag value. `route` sends a member binding's level
changes to the slots it fills.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from rules.compile import Binding, selects
from rules.events import Member, PointMeta
from rules.kernels import composite
from rules.spec import CompositeRule
from rules.tables.base import KindTable, Outputs, ms


class CompositeTable(KindTable):
    kind = "composite"
    step = staticmethod(composite.step)
    tick_fn = staticmethod(composite.tick)
    example: ClassVar[dict[str, Any]] = {"kind": "composite", "of": ["warm"], "window_s": 60}

    def __init__(
        self,
        rules: Sequence[CompositeRule],
        tables: Mapping[str, KindTable],
        points: Sequence[PointMeta],
    ) -> None:
        groups: dict[tuple[int, str], list[tuple[int, str, int, int]]] = {}
        for ri, rule in enumerate(rules):
            members = {rid: j for j, rid in enumerate(rule.of)}
            for kind, table in tables.items():
                for b, bd in enumerate(table.bindings):
                    j = members.get(bd.rule.id)
                    if j is None:
                        continue
                    meta = points[bd.point_idx]
                    scope = "" if rule.scope is None else meta.tags.get(rule.scope)
                    has_selector = rule.points or rule.quantity or rule.tags
                    if scope is None or (has_selector and not selects(rule, meta)):
                        continue
                    groups.setdefault((ri, scope), []).append((j, kind, b, bd.point_idx))
        keys = sorted(groups)
        super().__init__([Binding(rules[ri], groups[(ri, sc)][0][3]) for ri, sc in keys], points)
        self.scopes = [sc for _, sc in keys]
        n_slots = max((len(g) for g in groups.values()), default=1)
        self.slot_rule = np.full((self.n, n_slots), -1, dtype=np.int64)
        self.slot_point = np.full((self.n, n_slots), -1, dtype=np.int64)
        self.route: dict[tuple[str, int], list[tuple[int, int]]] = {}
        for cb, key in enumerate(keys):
            for s, (j, kind, b, p) in enumerate(groups[key]):
                self.slot_rule[cb, s] = j
                self.slot_point[cb, s] = p
                self.route.setdefault((kind, b), []).append((cb, s))
        self.need = self.column(
            lambda r, _: len(r.of) if r.need == "all" else (1 if r.need == "any" else r.need),
            np.int64,
        )
        self.by_points = self.column(lambda r, _: 1 if r.count == "points" else 0, np.int8)
        self.window_ms = self.column(lambda r, _: ms(r.window_s), np.int64)
        self.level = self.column(lambda r, _: r.level, np.int8)
        self.min_level = self.column(lambda r, _: r.min_level, np.int8)
        self.slot_last = self.state("slot_last", (n_slots,), np.int64, -1)
        self.slot_active = self.state("slot_active", (n_slots,), np.int8, 0)
        self.alarm_point = self.state("alarm_point", (), np.int64, -1)
        # (binding, slot) -> the member as it stood at its latest raise (alarm evidence)
        self.slot_member: dict[tuple[int, int], Member] = {}

    def point_of(self, b: int) -> int:
        p = int(self.alarm_point[b])
        return p if p >= 0 else self.bindings[b].point_idx

    def feed(
        self, ev_bind: np.ndarray, ev_slot: np.ndarray, ev_ts: np.ndarray, ev_level: np.ndarray
    ) -> np.ndarray:
        """Member level changes (level 0 = cleared) in time order; out_level per event."""
        up = ((ev_level > 0) & (ev_level <= self.min_level[ev_bind])).astype(np.int8)
        out = np.empty(ev_bind.shape[0], dtype=np.int8)
        self.step(
            self.slot_rule, self.need, self.by_points, self.window_ms, self.level,
            self.slot_last, self.slot_active, self.active, ev_bind, ev_slot, ev_ts, up, out,
        )  # fmt: skip
        for i in np.flatnonzero(out > 0):
            self.alarm_point[ev_bind[i]] = self.slot_point[ev_bind[i], ev_slot[i]]
        return out

    def run(self, bind: np.ndarray, ts: np.ndarray, value: np.ndarray, good: np.ndarray) -> Outputs:
        raise TypeError("a composite runs on alarm events (feed), not on samples")

    def tick(self, now: int, enabled: np.ndarray) -> np.ndarray | None:
        out = np.empty(self.n, dtype=np.int8)
        self.tick_fn(
            self.slot_rule, self.need, self.by_points, self.window_ms, self.level,
            self.slot_last, self.slot_active, self.active, enabled, now, out,
        )  # fmt: skip
        return out

    @classmethod
    def warm(cls) -> None:
        one = np.zeros(1, dtype=np.int64)
        rule = CompositeRule.model_validate({"id": "warm", **cls.example})
        table = cls.__new__(cls)
        KindTable.__init__(table, [Binding(rule, 0)], [PointMeta("w", "u", "q", "")])
        table.slot_rule = np.zeros((1, 1), dtype=np.int64)
        table.slot_point = np.zeros((1, 1), dtype=np.int64)
        table.need = np.ones(1, dtype=np.int64)
        table.by_points = np.zeros(1, dtype=np.int8)
        table.window_ms = np.full(1, 1000, dtype=np.int64)
        table.level = np.full(1, 2, dtype=np.int8)
        table.min_level = np.full(1, 4, dtype=np.int8)
        table.slot_last = np.full((1, 1), -1, dtype=np.int64)
        table.slot_active = np.zeros((1, 1), dtype=np.int8)
        table.alarm_point = np.full(1, -1, dtype=np.int64)
        table.feed(one, one, one, np.ones(1, dtype=np.int8))
        table.tick(5000, np.ones(1, dtype=np.int8))
