"""The baseline table: a point against its learned time-of-day baseline (rules.kernels.baseline).

The learned slots are state like any other (kept across a reload of an unchanged rule);
`learned()` and `load_learned()` hand them to and take them from the store, so a restart
does not start the cold start again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from rules.compile import Binding
from rules.events import Evidence, PointMeta
from rules.kernels import baseline
from rules.tables.base import Outputs, ms
from rules.tables.health import PeerResiduals

LEARNED = ("mean", "mad", "n_seen", "days", "last_day")  # the state that is the learned baseline


class BaselineTable(PeerResiduals):
    kind = "baseline"
    step = staticmethod(baseline.step)
    example: ClassVar[dict[str, Any]] = {
        "kind": "baseline", "direction": "above", "min_days": 1, "cold_limit": 1.0,
    }  # fmt: skip

    def __init__(self, bindings: Sequence[Binding], points: Sequence[PointMeta]) -> None:
        super().__init__(bindings, points)
        self.sign = self.column(lambda r, _: 1 if r.direction == "above" else -1, np.int8)
        self.n_sigma = self.column(lambda r, _: r.n_sigma, np.float64)
        self.min_delta = self.column(lambda r, _: r.min_delta, np.float64)
        self.min_fraction = self.column(lambda r, _: r.min_fraction, np.float64)
        self.sigma_min = self.column(lambda r, _: r.sigma_min, np.float64)
        self.cold_limit = self.column(
            lambda r, _: np.nan if r.cold_limit is None else r.cold_limit, np.float64
        )
        self.utc_ms = self.column(lambda r, _: ms(r.utc_offset_h * 3600), np.int64)
        self.slot_ms = self.column(lambda r, _: ms(r.slot_s), np.int64)
        self.n_slots = self.column(lambda r, _: round(86_400 / r.slot_s), np.int64)
        self.weekends = self.column(lambda r, _: 1 if r.weekends else 0, np.int8)
        self.learn_days = self.column(lambda r, _: r.learn_days, np.int64)
        self.min_days = self.column(lambda r, _: r.min_days, np.int64)
        self.on_ms = self.column(lambda r, _: ms(r.on_delay_s), np.int64)
        self.off_ms = self.column(lambda r, _: ms(r.off_delay_s), np.int64)
        self.level = self.column(lambda r, _: r.level, np.int8)
        k = 2 * int(self.n_slots.max()) if self.n else 2
        self.mean = self.state("mean", (k,), np.float64, 0.0)
        self.mad = self.state("mad", (k,), np.float64, 0.0)
        self.n_seen = self.state("n_seen", (k,), np.int64, 0)
        self.days = self.state("days", (k,), np.int64, 0)
        self.last_day = self.state("last_day", (k,), np.int64, -1)
        self.cond_since = self.state("cond_since", (), np.int64, -1)
        self.clear_since = self.state("clear_since", (), np.int64, -1)
        self.base = np.empty(0)  # the last run's out_base and out_cold (evidence)
        self.cold = np.empty(0, dtype=np.int8)
        self._seen = np.empty(0)  # what the kernel saw: the reading, or its peer residual
        self._init_peers(points)

    def run(self, bind: np.ndarray, ts: np.ndarray, value: np.ndarray, good: np.ndarray) -> Outputs:
        lvl, lim, _ = out = self.outputs(bind.shape[0])
        self.base = np.empty(bind.shape[0], dtype=np.float64)
        self.cold = np.empty(bind.shape[0], dtype=np.int8)
        value = self._seen = self.residuals(bind, ts, value, good)
        self.step(
            self.sign, self.n_sigma, self.min_delta, self.min_fraction, self.sigma_min,
            self.cold_limit,
            self.utc_ms, self.slot_ms, self.n_slots, self.weekends, self.learn_days,
            self.min_days, self.on_ms, self.off_ms, self.level, self.mean, self.mad,
            self.n_seen, self.days, self.last_day, self.active, self.cond_since,
            self.clear_since, bind, ts, value, good, lvl, lim, self.base, self.cold,
        )  # fmt: skip
        self.peers_alarmed()
        return out

    def evidence(self, i: int, b: int, value: float, limit: float) -> Evidence:
        """The slot's learned value and the residual; in cold start, the fixed limit. Against
        peers, both are of the residual (reading minus the peers' median)."""
        seen = float(self._seen[i])
        peers = "residual against peers" if self.use_peers[b] else None
        if self.cold[i]:
            note = "cold start: fixed limit" + (f"; {peers}" if peers else "")
            return Evidence.of(window_s=self.slot_ms[b] / 1000.0, baseline=limit,
                               delta=seen - limit, note=note)  # fmt: skip
        base = float(self.base[i])
        return Evidence.of(window_s=self.slot_ms[b] / 1000.0, baseline=base, delta=seen - base,
                           note=peers)  # fmt: skip

    def warm_fraction(self, b: int) -> float:
        """The share of binding b's slots past their cold start (for status and checks)."""
        k = 2 * int(self.n_slots[b]) if self.weekends[b] else int(self.n_slots[b])
        return float((self.days[b, :k] >= self.min_days[b]).mean())

    def learned(self, b: int) -> dict[str, list[Any]]:
        """Binding b's learned baseline as plain lists (the store keeps it)."""
        return {name: getattr(self, name)[b].tolist() for name in LEARNED}

    def load_learned(self, b: int, data: dict[str, list[Any]]) -> bool:
        """Take a stored baseline back; False (nothing changed) when its shape differs."""
        arrays = {name: np.asarray(data.get(name, ())) for name in LEARNED}
        if any(a.shape != getattr(self, name)[b].shape for name, a in arrays.items()):
            return False
        for name, a in arrays.items():
            getattr(self, name)[b] = a
        return True
