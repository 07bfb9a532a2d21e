"""Per-kind tables: a kind's bindings as parameter and state arrays, and how to run its kernel.

A table owns the NumPy columns its kernel reads and writes. The engine hands
it a batch `(bind, ts, value, good)` and gets back, per batch entry, the new
level where it changed (-1: no change, 0: cleared), the limit, and for
predictions the eta in seconds (NaN otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from rules.compile import Binding, tag_number
from rules.events import PointMeta
from rules.kernels import threshold as k_threshold
from rules.spec import RULE_KINDS, ThresholdRule

Outputs = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def _ms(seconds: float) -> int:
    return round(seconds * 1000.0)


class KindTable:
    """Base: subclasses fill params/state in __init__ and implement run()."""

    kind: ClassVar[str] = ""
    state_names: ClassVar[tuple[str, ...]] = ()
    example: ClassVar[dict[str, Any]] = {}  # a minimal rule of this kind, for warm-up and tests

    def __init__(self, bindings: Sequence[Binding], points: Sequence[PointMeta]) -> None:
        self.bindings = list(bindings)
        self.points = points
        self.n = len(self.bindings)

    def run(self, bind: np.ndarray, ts: np.ndarray, value: np.ndarray, good: np.ndarray) -> Outputs:
        raise NotImplementedError

    def restore(self, b: int, level: int) -> None:
        """Make binding b hold an active alarm at `level` (after a restart)."""
        raise NotImplementedError

    def reset(self, b: int) -> None:
        """Forget binding b's history (its rule left the current mode)."""
        raise NotImplementedError

    @classmethod
    def warm(cls) -> None:
        """Run this kind's kernels once on tiny arrays of the engine's exact dtypes."""
        rule = RULE_KINDS[cls.kind].model_validate({"id": "warm", "points": ["*"], **cls.example})
        meta = PointMeta("warm", "up", "any", "", 0.0, 1.0, {"zone": "z"})
        table = cls([Binding(rule, 0)], [meta])
        bind = np.zeros(3, dtype=np.int64)
        ts = np.array([0, 1000, 2000], dtype=np.int64)
        value = np.array([0.5, np.nan, 2.0], dtype=np.float64)
        table.run(bind, ts, value, np.array([1, 1, 0], dtype=np.int8))
        table.tick(np.int64(3000))

    def tick(self, ts_ms: np.int64) -> Outputs | None:
        """Time passing without samples (stale, composite expiry); most kinds ignore it."""
        return None

    def adopt(self, b: int, other: KindTable, ob: int) -> None:
        """Take over the state of binding ob of `other` (an unchanged binding on reload)."""
        for name in self.state_names:
            getattr(self, name)[b] = getattr(other, name)[ob]


class ThresholdTable(KindTable):
    kind = "threshold"
    state_names = ("active", "since", "below_since")
    step: ClassVar[Callable[..., int]] = staticmethod(k_threshold.step)
    example: ClassVar[dict[str, Any]] = {
        "kind": "threshold", "direction": "above", "levels": [{"level": 2, "limit": 1.0}],
    }  # fmt: skip

    def __init__(self, bindings: Sequence[Binding], points: Sequence[PointMeta]) -> None:
        super().__init__(bindings, points)
        n = self.n
        self.limits = np.full((n, 4), np.nan)
        self.direction = np.ones(n, dtype=np.int8)
        self.hyst = np.zeros(n)
        self.on_ms = np.zeros((n, 4), dtype=np.int64)
        self.off_ms = np.zeros(n, dtype=np.int64)
        for b, bd in enumerate(self.bindings):
            r = bd.rule
            assert isinstance(r, ThresholdRule)
            self.direction[b] = 1 if r.direction == "above" else -1
            self.hyst[b] = r.hysteresis
            self.off_ms[b] = _ms(r.off_delay_s)
            ref = tag_number(points[bd.point_idx], r.relative_to) if r.relative_to else None
            for lv in r.levels:
                lim = lv.limit
                if ref is not None:
                    lim = ref + lim if r.relative == "offset" else ref * lim
                self.limits[b, lv.level - 1] = lim
                delay = r.on_delay_s if lv.on_delay_s is None else lv.on_delay_s
                self.on_ms[b, lv.level - 1] = _ms(delay)
        self.active = np.zeros(n, dtype=np.int8)
        self.since = np.full((n, 4), -1, dtype=np.int64)
        self.below_since = np.full(n, -1, dtype=np.int64)

    def run(self, bind: np.ndarray, ts: np.ndarray, value: np.ndarray, good: np.ndarray) -> Outputs:
        m = bind.shape[0]
        out_level = np.empty(m, dtype=np.int8)
        out_limit = np.empty(m, dtype=np.float64)
        self.step(
            self.limits, self.direction, self.hyst, self.on_ms, self.off_ms,
            self.active, self.since, self.below_since,
            bind, ts, value, good, out_level, out_limit,
        )  # fmt: skip
        return out_level, out_limit, None

    def restore(self, b: int, level: int) -> None:
        self.active[b] = level
        self.since[b] = -1
        self.below_since[b] = -1

    def reset(self, b: int) -> None:
        self.restore(b, 0)


TABLES: dict[str, type[KindTable]] = {"threshold": ThresholdTable}
