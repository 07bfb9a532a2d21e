"""Tables of the sensor-health kinds, on one point's samples: flatline, range, drift,
spike, stale."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from rules.compile import Binding
from rules.events import Evidence, PointMeta
from rules.kernels import drift, flatline, peers, spike, stale
from rules.kernels import range as range_
from rules.sampling import FLAT_POLLS, STALE_POLLS, scaled
from rules.spec import BaselineRule, DriftRule
from rules.tables.base import KindTable, Outputs, ms


class FlatlineTable(KindTable):
    kind = "flatline"
    step = staticmethod(flatline.step)
    example: ClassVar[dict[str, Any]] = {"kind": "flatline", "epsilon": 0.001, "duration_s": 60}

    def __init__(self, bindings: Sequence[Binding], points: Sequence[PointMeta]) -> None:
        super().__init__(bindings, points)
        self.eps = self.column(lambda r, _: r.epsilon, np.float64)

        def floor(r: Any, p: PointMeta) -> float:
            ok = r.except_floor and math.isfinite(p.range_lo)
            return p.range_lo + r.epsilon if ok else -math.inf

        self.floor = self.column(floor, np.float64)
        self.dur_ms = self.column(
            lambda r, p: ms(scaled(r.duration_s, p.poll_s, FLAT_POLLS)), np.int64
        )
        self.level = self.column(lambda r, _: r.level, np.int8)
        self.run_lo = self.state("run_lo", (), np.float64, 0.0)
        self.run_hi = self.state("run_hi", (), np.float64, 0.0)
        self.run_start = self.state("run_start", (), np.int64, -1)

    def run(self, bind: np.ndarray, ts: np.ndarray, value: np.ndarray, good: np.ndarray) -> Outputs:
        lvl, lim, _ = out = self.outputs(bind.shape[0])
        self.step(
            self.eps, self.floor, self.dur_ms, self.level, self.run_lo, self.run_hi,
            self.run_start, self.active, bind, ts, value, good, lvl, lim,
        )  # fmt: skip
        return out

    def evidence(self, i: int, b: int, value: float, limit: float) -> Evidence:
        """Flat for `duration_s`: within `epsilon` (the limit) of itself."""
        return Evidence.of(window_s=self.dur_ms[b] / 1000.0)


class RangeTable(KindTable):
    kind = "range"
    step = staticmethod(range_.step)
    example: ClassVar[dict[str, Any]] = {"kind": "range"}

    def __init__(self, bindings: Sequence[Binding], points: Sequence[PointMeta]) -> None:
        super().__init__(bindings, points)

        def span(p: PointMeta) -> float:
            s = p.range_hi - p.range_lo
            return s if math.isfinite(s) else 0.0

        self.lo = self.column(lambda r, p: p.range_lo - r.margin * span(p), np.float64)
        self.hi = self.column(lambda r, p: p.range_hi + r.margin * span(p), np.float64)
        self.count_n = self.column(lambda r, _: r.count, np.int64)
        self.level = self.column(lambda r, _: r.level, np.int8)
        self.n_out = self.state("n_out", (), np.int64, 0)

    def run(self, bind: np.ndarray, ts: np.ndarray, value: np.ndarray, good: np.ndarray) -> Outputs:
        lvl, lim, _ = out = self.outputs(bind.shape[0])
        self.step(
            self.lo, self.hi, self.count_n, self.level, self.n_out, self.active,
            bind, ts, value, good, lvl, lim,
        )  # fmt: skip
        return out


class PeerResiduals(KindTable):
    """A kind that may run on a point's residual against its peers (drift, baseline): the
    reading minus the median of the latest readings of the rule's other points."""

    residual = staticmethod(peers.residual)

    def _init_peers(self, points: Sequence[PointMeta]) -> None:
        """Peers of a binding: the other points of its rule, in its `peers_scope` if set."""
        self.use_peers = self.column(lambda r, _: 1 if r.against == "peers" else 0, np.int8)
        self.bind_point = np.array([bd.point_idx for bd in self.bindings], dtype=np.int64)
        rows: list[list[int]] = []
        for b, bd in enumerate(self.bindings):
            r, me = bd.rule, points[bd.point_idx]
            assert isinstance(r, DriftRule | BaselineRule)
            if r.against != "peers":
                rows.append([])
                continue
            scope = None if r.peers_scope is None else me.tags.get(r.peers_scope)
            mates = [
                o.point_idx for o in self.bindings[b + 1 :] + self.bindings[:b]
                if o.rule.id == r.id and o.point_idx != bd.point_idx
                and (r.peers_scope is None or points[o.point_idx].tags.get(r.peers_scope) == scope)
            ]  # fmt: skip
            rows.append(mates[: r.max_peers])  # the next ones in order: O(max_peers) a sample
        self.peer_ptr = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=self.peer_ptr[1:])
        self.peer_idx = np.array([q for r in rows for q in r], dtype=np.int64)
        self.max_age_ms = self.column(lambda r, _: ms(r.peer_max_age_s), np.int64)
        self.last_val = np.full(len(points), np.nan)
        self.last_seen = np.full(len(points), -1, dtype=np.int64)
        self.prev_resid = self.state("prev_resid", (), np.float64, np.nan)
        self.point_alarm = np.zeros(len(points), dtype=np.int8)
        self.scratch = np.zeros(max((len(r) for r in rows), default=1) or 1)
        self.any_peers = bool(self.use_peers.any())

    def residuals(
        self, bind: np.ndarray, ts: np.ndarray, value: np.ndarray, good: np.ndarray
    ) -> np.ndarray:
        """The values the kernel sees: each peer binding's residual, others' readings."""
        if not self.any_peers:
            return value
        resid = np.empty(bind.shape[0], dtype=np.float64)
        self.residual(
            self.bind_point, self.peer_ptr, self.peer_idx, self.max_age_ms, self.point_alarm,
            self.last_val, self.last_seen, self.prev_resid, self.scratch,
            bind, ts, value, good, resid,
        )  # fmt: skip
        return np.where(self.use_peers[bind] == 1, resid, value)

    def peers_alarmed(self) -> None:
        """Peers leave out a point whose alarm of this kind is active."""
        if self.any_peers:
            mine = self.use_peers == 1
            self.point_alarm[self.bind_point[mine]] = self.active[mine] > 0


class DriftTable(PeerResiduals):
    kind = "drift"
    step = staticmethod(drift.step)
    example: ClassVar[dict[str, Any]] = {"kind": "drift", "warmup": 2, "against": "peers"}

    def __init__(self, bindings: Sequence[Binding], points: Sequence[PointMeta]) -> None:
        super().__init__(bindings, points)
        self.k = self.column(lambda r, _: r.k_sigma, np.float64)
        self.h = self.column(lambda r, _: r.h_sigma, np.float64)
        self.tau_s = self.column(lambda r, _: r.tau_s, np.float64)
        self.sigma_min = self.column(lambda r, _: r.sigma_min, np.float64)
        self.warmup = self.column(lambda r, _: r.warmup, np.int64)
        self.hold_ms = self.column(lambda r, _: ms(r.hold_s), np.int64)
        self.level = self.column(lambda r, _: r.level, np.int8)
        self.n_seen = self.state("n_seen", (), np.int64, 0)
        self.mean = self.state("mean", (), np.float64, 0.0)
        self.var = self.state("var", (), np.float64, 0.0)
        self.s_hi = self.state("s_hi", (), np.float64, 0.0)
        self.s_lo = self.state("s_lo", (), np.float64, 0.0)
        self.last_ts = self.state("last_ts", (), np.int64, 0)
        self.last_cross = self.state("last_cross", (), np.int64, 0)
        self._init_peers(points)
        self._seen = np.empty(0)  # what the last run's CUSUM saw: the value or its residual

    def run(self, bind: np.ndarray, ts: np.ndarray, value: np.ndarray, good: np.ndarray) -> Outputs:
        lvl, lim, _ = out = self.outputs(bind.shape[0])
        value = self.residuals(bind, ts, value, good)  # a peer binding's CUSUM: its residual
        self._seen = value
        self.step(
            self.k, self.h, self.tau_s, self.sigma_min, self.warmup, self.hold_ms, self.level,
            self.n_seen, self.mean, self.var, self.s_hi, self.s_lo, self.last_ts,
            self.last_cross, self.active, bind, ts, value, good, lvl, lim,
        )  # fmt: skip
        self.peers_alarmed()
        return out

    def evidence(self, i: int, b: int, value: float, limit: float) -> Evidence:
        """The CUSUM's baseline (the learned mean of the value, or of its residual against
        the peers' median) and how far the deciding sample was from it."""
        seen = float(self._seen[i])
        note = "residual against peers" if self.use_peers[b] else None
        return Evidence.of(window_s=float(self.tau_s[b]), baseline=limit, delta=seen - limit,
                           note=note)  # fmt: skip

    def restore(self, b: int, level: int, ts_ms: int) -> None:
        super().restore(b, level, ts_ms)
        self.last_cross[b] = ts_ms  # the hold runs from the alarm's last known crossing


class SpikeTable(KindTable):
    kind = "spike"
    step = staticmethod(spike.step)
    example: ClassVar[dict[str, Any]] = {"kind": "spike", "window": 3, "count": 1}

    def __init__(self, bindings: Sequence[Binding], points: Sequence[PointMeta]) -> None:
        super().__init__(bindings, points)
        self.k = self.column(lambda r, _: r.window, np.int64)
        self.width = self.column(lambda r, _: r.width, np.int64)
        self.count_n = self.column(lambda r, _: r.count, np.int64)
        self.per_ms = self.column(lambda r, _: ms(r.per_s), np.int64)
        self.n_sigma = self.column(lambda r, _: r.n_sigma, np.float64)
        self.min_delta = self.column(lambda r, _: r.min_delta, np.float64)
        self.level = self.column(lambda r, _: r.level, np.int8)
        k_max = int(self.k.max()) if self.n else 3
        c_max = int(self.count_n.max()) if self.n else 1
        self.win = self.state("win", (k_max,), np.float64, 0.0)
        self.n_win = self.state("n_win", (), np.int64, 0)
        self.pos = self.state("pos", (), np.int64, 0)
        self.held = self.state("held", (4,), np.float64, 0.0)
        self.n_held = self.state("n_held", (), np.int64, 0)
        self.spike_ts = self.state("spike_ts", (c_max,), np.int64, 0)
        self.n_spk = self.state("n_spk", (), np.int64, 0)
        self.spk_pos = self.state("spk_pos", (), np.int64, 0)
        self.scratch = np.zeros(k_max, dtype=np.float64)

    def run(self, bind: np.ndarray, ts: np.ndarray, value: np.ndarray, good: np.ndarray) -> Outputs:
        lvl, lim, _ = out = self.outputs(bind.shape[0])
        self.step(
            self.k, self.width, self.count_n, self.per_ms, self.n_sigma, self.min_delta,
            self.level, self.win, self.n_win, self.pos, self.held, self.n_held, self.spike_ts,
            self.n_spk, self.spk_pos, self.active, self.scratch, bind, ts, value, good, lvl, lim,
        )  # fmt: skip
        return out


class StaleTable(KindTable):
    kind = "stale"
    step = staticmethod(stale.step)
    tick_fn = staticmethod(stale.tick)
    example: ClassVar[dict[str, Any]] = {"kind": "stale", "after_s": 1}

    def __init__(self, bindings: Sequence[Binding], points: Sequence[PointMeta]) -> None:
        super().__init__(bindings, points)
        self.after_ms = self.column(
            lambda r, p: ms(scaled(r.after_s, p.poll_s, STALE_POLLS)), np.int64
        )
        self.level = self.column(lambda r, _: r.level, np.int8)
        self.last_good = self.state("last_good", (), np.int64, -1)

    def run(self, bind: np.ndarray, ts: np.ndarray, value: np.ndarray, good: np.ndarray) -> Outputs:
        lvl, lim, _ = out = self.outputs(bind.shape[0])
        self.step(
            self.after_ms, self.level, self.last_good, self.active, bind, ts, value, good, lvl, lim
        )  # fmt: skip
        return out

    def tick(self, now: int, enabled: np.ndarray) -> np.ndarray | None:
        out = np.empty(self.n, dtype=np.int8)
        self.tick_fn(self.after_ms, self.level, self.last_good, self.active, enabled, now, out)
        return out

    def evidence(self, i: int, b: int, value: float, limit: float) -> Evidence:
        return Evidence.of(window_s=self.after_ms[b] / 1000.0)

    def tick_evidence(self, b: int) -> Evidence:
        """No good reading for `after_s`: the window; the last good reading's time."""
        return Evidence.of(window_s=self.after_ms[b] / 1000.0)
