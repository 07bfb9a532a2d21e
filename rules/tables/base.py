"""A kind's bindings as NumPy parameter and state columns, and how to run its kernel.

A table owns the arrays its kernel reads and writes. The engine hands it a
batch `(bind, ts, value, good)` and gets back, per batch entry, the new
level where it changed (-1: no change, 0: cleared), the limit, and for
predictions the eta in seconds (NaN otherwise). State arrays are declared
with their initial fill, so reset, restore and hot-reload adoption are generic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from rules.compile import Binding
from rules.events import Evidence, PointMeta
from rules.spec import RULE_KINDS

Outputs = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def ms(seconds: float) -> int:
    return round(seconds * 1000.0)


class KindTable:
    """Base: subclasses declare params/state in __init__ and implement run()."""

    kind: ClassVar[str] = ""
    example: ClassVar[dict[str, Any]] = {}  # a minimal rule of this kind, for warm-up and tests
    step: ClassVar[Callable[..., int]]

    def __init__(self, bindings: Sequence[Binding], points: Sequence[PointMeta]) -> None:
        self.bindings = list(bindings)
        self.points = points
        self.n = len(self.bindings)
        self._fills: dict[str, Any] = {}
        self.active = self.state("active", (), np.int8, 0)

    def state(self, name: str, tail: tuple[int, ...], dtype: Any, fill: Any) -> np.ndarray:
        """Declare a state column (one row per binding) with its initial value."""
        arr = np.full((self.n, *tail), fill, dtype=dtype)
        self._fills[name] = fill
        setattr(self, name, arr)
        return arr

    def column(self, fn: Callable[[Any, PointMeta], Any], dtype: Any) -> np.ndarray:
        """A parameter column: fn(rule, point) for every binding."""
        return np.array(
            [fn(bd.rule, self.points[bd.point_idx]) for bd in self.bindings], dtype=dtype
        ).reshape(self.n)

    def run(self, bind: np.ndarray, ts: np.ndarray, value: np.ndarray, good: np.ndarray) -> Outputs:
        raise NotImplementedError

    def evidence(self, i: int, b: int, value: float, limit: float) -> Evidence:
        """Why output i of the last run (binding b) raised or changed level. The default
        compares with the limit; kinds with a window or a learned baseline say more."""
        return Evidence.of(baseline=limit, delta=value - limit)

    def tick_evidence(self, b: int) -> Evidence:
        """Why binding b changed level on a tick (time passing without samples)."""
        return Evidence()

    def tick(self, now: int, enabled: np.ndarray) -> np.ndarray | None:
        """Time passing without samples (stale, composite expiry): out_level per binding."""
        return None

    def reset(self, b: int) -> None:
        """Forget binding b's history (its rule left the current mode)."""
        for name, fill in self._fills.items():
            getattr(self, name)[b] = fill

    def restore(self, b: int, level: int, ts_ms: int) -> None:
        """Make binding b hold an active alarm at `level`, last changed at ts_ms (a restart)."""
        self.reset(b)
        self.active[b] = level

    def point_of(self, b: int) -> int:
        """The point an alarm of binding b is reported on."""
        return self.bindings[b].point_idx

    def adopt(self, b: int, other: KindTable, ob: int) -> None:
        """Take over the state of binding ob of `other` (an unchanged binding on reload)."""
        for name in self._fills:
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine.shape[1:] == theirs.shape[1:]:
                mine[b] = theirs[ob]

    @classmethod
    def warm(cls) -> None:
        """Run this kind's kernels once on tiny arrays of the engine's exact dtypes."""
        rule = RULE_KINDS[cls.kind].model_validate({"id": "warm", "points": ["*"], **cls.example})
        meta = PointMeta("warm", "up", "any", "", 0.0, 1.0, {"zone": "z", "ref": "1.0"})
        table = cls([Binding(rule, 0)], [meta])
        bind = np.zeros(3, dtype=np.int64)
        ts = np.array([0, 1000, 2000], dtype=np.int64)
        value = np.array([0.5, np.nan, 2.0], dtype=np.float64)
        table.run(bind, ts, value, np.array([1, 1, 0], dtype=np.int8))
        table.tick(3000, np.ones(1, dtype=np.int8))

    @staticmethod
    def outputs(m: int, eta: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        return (
            np.empty(m, dtype=np.int8),
            np.empty(m, dtype=np.float64),
            np.empty(m, dtype=np.float64) if eta else None,
        )
