"""Tables of the process kinds, on one point's samples: threshold, rate, trend,
accumulation, night_flow. Rate and trend keep a ring of recent readings per binding."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from rules.compile import Binding, tag_number
from rules.events import Evidence, PointMeta
from rules.kernels import accumulation, night_flow, rate, threshold, trend
from rules.sampling import SMOOTH_POLLS, scaled
from rules.spec import ThresholdRule
from rules.tables.base import KindTable, Outputs, ms

# Ring slots per binding for the window kinds (rate, trend): enough for one reading a second
# over the longest window of the table, so the window is exact for polls of 1 s or slower;
# beyond RING_MAX (a 68-min window at 1 s) the oldest readings drop out early.
MIN_POLL_S = 1.0
RING_MIN, RING_MAX = 16, 4096


def adopt_ring(new: KindTable, b: int, old: KindTable, ob: int, val: str) -> None:
    """Carry a ring (buf_ts + `val`, head, count) across tables of different ring sizes:
    the newest entries, oldest first, from slot 0."""
    cap_old, cap_new = old.buf_ts.shape[1], new.buf_ts.shape[1]  # type: ignore[attr-defined]
    n = int(old.count[ob])  # type: ignore[attr-defined]
    take = min(n, cap_new - 1)
    for k in range(take):
        src = (int(old.head[ob]) + n - take + k) % cap_old  # type: ignore[attr-defined]
        new.buf_ts[b, k] = old.buf_ts[ob, src]  # type: ignore[attr-defined]
        getattr(new, val)[b, k] = getattr(old, val)[ob, src]
    new.head[b], new.count[b] = 0, take  # type: ignore[attr-defined]


def ring_slots(bindings: Sequence[Binding]) -> int:
    longest = max((float(getattr(bd.rule, "window_s", 0.0)) for bd in bindings), default=0.0)
    return int(min(max(math.ceil(longest / MIN_POLL_S) + 2, RING_MIN), RING_MAX))


def _ref(rule: Any, meta: PointMeta, value: float) -> float:
    """A limit with the rule's `relative_to` tag applied."""
    if getattr(rule, "relative_to", None) is None:
        return value
    ref = tag_number(meta, rule.relative_to)
    assert ref is not None  # selection binds only points that carry the tag
    return ref + value if rule.relative == "offset" else ref * value


class ThresholdTable(KindTable):
    kind = "threshold"
    step = staticmethod(threshold.step)
    example: ClassVar[dict[str, Any]] = {
        "kind": "threshold", "direction": "above", "levels": [{"level": 2, "limit": 1.0}],
    }  # fmt: skip

    def __init__(self, bindings: Sequence[Binding], points: Sequence[PointMeta]) -> None:
        super().__init__(bindings, points)
        n = self.n
        self.limits = np.full((n, 4), np.nan)
        self.on_ms = np.zeros((n, 4), dtype=np.int64)
        for b, bd in enumerate(self.bindings):
            r = bd.rule
            assert isinstance(r, ThresholdRule)
            for lv in r.levels:
                self.limits[b, lv.level - 1] = _ref(r, points[bd.point_idx], lv.limit)
                self.on_ms[b, lv.level - 1] = ms(
                    r.on_delay_s if lv.on_delay_s is None else lv.on_delay_s
                )
        self.direction = self.column(lambda r, _: 1 if r.direction == "above" else -1, np.int8)
        self.hyst = self.column(lambda r, _: r.hysteresis, np.float64)
        self.off_ms = self.column(lambda r, _: ms(r.off_delay_s), np.int64)
        self.since = self.state("since", (4,), np.int64, -1)
        self.below_since = self.state("below_since", (), np.int64, -1)
        self._level = np.empty(0, dtype=np.int8)  # the last run's out_level

    def run(self, bind: np.ndarray, ts: np.ndarray, value: np.ndarray, good: np.ndarray) -> Outputs:
        lvl, lim, _ = out = self.outputs(bind.shape[0])
        self.step(
            self.limits, self.direction, self.hyst, self.on_ms, self.off_ms,
            self.active, self.since, self.below_since, bind, ts, value, good, lvl, lim,
        )  # fmt: skip
        self._level = lvl
        return out

    def evidence(self, i: int, b: int, value: float, limit: float) -> Evidence:
        on_s = float(self.on_ms[b, int(self._level[i]) - 1]) / 1000.0
        return Evidence.of(window_s=on_s, baseline=limit, delta=value - limit)


class RateTable(KindTable):
    kind = "rate"
    step = staticmethod(rate.step)
    example: ClassVar[dict[str, Any]] = {
        "kind": "rate", "direction": "falling", "delta": 0.1, "window_s": 60,
    }  # fmt: skip

    def __init__(self, bindings: Sequence[Binding], points: Sequence[PointMeta]) -> None:
        super().__init__(bindings, points)
        self.sign = self.column(lambda r, _: 1 if r.direction == "rising" else -1, np.int8)
        self.delta = self.column(lambda r, p: abs(_ref(r, p, r.delta)), np.float64)
        self.window_ms = self.column(lambda r, _: ms(r.window_s), np.int64)
        self.level = self.column(lambda r, _: r.level, np.int8)
        self.on_ms = self.column(lambda r, _: ms(r.on_delay_s), np.int64)
        self.off_ms = self.column(lambda r, _: ms(r.off_delay_s), np.int64)
        self.despike = self.column(lambda r, _: 1 if r.despike else 0, np.int8)
        ring = ring_slots(self.bindings)
        self.buf_ts = self.state("buf_ts", (ring,), np.int64, 0)
        self.buf_y = self.state("buf_y", (ring,), np.float64, 0.0)
        self.head = self.state("head", (), np.int64, 0)
        self.count = self.state("count", (), np.int64, 0)
        self.clear_since = self.state("clear_since", (), np.int64, -1)
        self.cond_since = self.state("cond_since", (), np.int64, -1)
        self.prev_y = self.state("prev_y", (), np.float64, np.nan)
        self.base = np.empty(0)  # the last run's out_base (evidence)

    def adopt(self, b: int, other: KindTable, ob: int) -> None:
        super().adopt(b, other, ob)
        if other.buf_ts.shape[1] != self.buf_ts.shape[1]:  # type: ignore[attr-defined]
            adopt_ring(self, b, other, ob, "buf_y")

    def run(self, bind: np.ndarray, ts: np.ndarray, value: np.ndarray, good: np.ndarray) -> Outputs:
        lvl, lim, _ = out = self.outputs(bind.shape[0])
        self.base = np.empty(bind.shape[0], dtype=np.float64)
        self.step(
            self.sign, self.delta, self.window_ms, self.level, self.on_ms, self.off_ms,
            self.despike, self.buf_ts, self.buf_y, self.head, self.count, self.active,
            self.clear_since, self.cond_since, self.prev_y, bind, ts, value, good, lvl, lim,
            self.base,
        )  # fmt: skip
        return out

    def evidence(self, i: int, b: int, value: float, limit: float) -> Evidence:
        base = float(self.base[i])
        return Evidence.of(window_s=self.window_ms[b] / 1000.0, baseline=base, delta=value - base)


class TrendTable(KindTable):
    kind = "trend"
    step = staticmethod(trend.step)
    example: ClassVar[dict[str, Any]] = {
        "kind": "trend", "direction": "above", "limit": 1.0, "window_s": 60, "horizon_s": 600,
    }  # fmt: skip

    def __init__(self, bindings: Sequence[Binding], points: Sequence[PointMeta]) -> None:
        super().__init__(bindings, points)
        self.sign = self.column(lambda r, _: 1 if r.direction == "above" else -1, np.int8)
        self.limit = self.column(lambda r, p: _ref(r, p, r.limit), np.float64)
        self.horizon_s = self.column(lambda r, _: r.horizon_s, np.float64)
        self.min_slope = self.column(lambda r, _: r.min_slope_per_h / 3600.0, np.float64)
        self.window_ms = self.column(lambda r, _: ms(r.window_s), np.int64)
        self.min_n = self.column(lambda r, _: r.min_samples, np.int64)
        self.on_ms = self.column(lambda r, _: ms(r.on_delay_s), np.int64)
        self.off_ms = self.column(lambda r, _: ms(r.off_delay_s), np.int64)
        self.level = self.column(lambda r, _: r.level, np.int8)
        ring = ring_slots(self.bindings)
        self.buf_ts = self.state("buf_ts", (ring,), np.int64, 0)
        self.buf_x = self.state("buf_x", (ring,), np.float64, 0.0)
        self.head = self.state("head", (), np.int64, 0)
        self.count = self.state("count", (), np.int64, 0)
        self.t_ref = self.state("t_ref", (), np.int64, 0)
        self.sums = self.state("sums", (6,), np.float64, 0.0)
        self.clear_since = self.state("clear_since", (), np.int64, -1)
        self.cond_since = self.state("cond_since", (), np.int64, -1)
        self.despike = self.column(lambda r, _: 1 if r.despike else 0, np.int8)
        self.prev_x = self.state("prev_x", (), np.float64, np.nan)
        self.fit, self.slope, self._eta = np.empty(0), np.empty(0), np.empty(0)  # last run's

    def adopt(self, b: int, other: KindTable, ob: int) -> None:
        super().adopt(b, other, ob)
        if other.buf_ts.shape[1] != self.buf_ts.shape[1]:  # type: ignore[attr-defined]
            adopt_ring(self, b, other, ob, "buf_x")
            self.t_ref[b] = -(2**62)  # the kernel rebuilds the sums from the ring next time

    def run(self, bind: np.ndarray, ts: np.ndarray, value: np.ndarray, good: np.ndarray) -> Outputs:
        lvl, lim, eta = out = self.outputs(bind.shape[0], eta=True)
        assert eta is not None
        self.fit = np.empty(bind.shape[0], dtype=np.float64)
        self.slope = np.empty(bind.shape[0], dtype=np.float64)
        self.step(
            self.sign, self.limit, self.horizon_s, self.min_slope, self.window_ms, self.min_n,
            self.on_ms, self.off_ms, self.level, self.despike, self.buf_ts, self.buf_x,
            self.head, self.count, self.t_ref, self.sums, self.active, self.clear_since,
            self.cond_since, self.prev_x, bind, ts, value, good, lvl, lim, eta, self.fit,
            self.slope,
        )  # fmt: skip
        self._eta = eta
        return out

    def evidence(self, i: int, b: int, value: float, limit: float) -> Evidence:
        window_s = self.window_ms[b] / 1000.0
        fit, slope = float(self.fit[i]), float(self.slope[i])
        return Evidence.of(window_s=window_s, baseline=fit, delta=slope * window_s,
                           slope=slope, eta_s=float(self._eta[i]))  # fmt: skip


class AccumulationTable(KindTable):
    kind = "accumulation"
    step = staticmethod(accumulation.step)
    example: ClassVar[dict[str, Any]] = {"kind": "accumulation", "window_s": 60, "limit": 1.0}
    N_BUCKETS = 64

    def __init__(self, bindings: Sequence[Binding], points: Sequence[PointMeta]) -> None:
        super().__init__(bindings, points)
        nb = self.N_BUCKETS
        self.bucket_ms = self.column(lambda r, _: max(1, ms(r.window_s) // nb), np.int64)
        self.off_ms = self.column(lambda r, _: ms(r.off_delay_s), np.int64)
        self.limit = self.column(lambda r, _: r.limit, np.float64)
        self.level = self.column(lambda r, _: r.level, np.int8)
        self.sums = self.state("sums", (nb,), np.float64, 0.0)
        self.last_k = self.state("last_k", (), np.int64, -1)
        self.clear_since = self.state("clear_since", (), np.int64, -1)

    def run(self, bind: np.ndarray, ts: np.ndarray, value: np.ndarray, good: np.ndarray) -> Outputs:
        lvl, lim, _ = out = self.outputs(bind.shape[0])
        self.step(
            self.bucket_ms, self.off_ms, self.limit, self.level, self.sums, self.last_k,
            self.active, self.clear_since, bind, ts, value, good, lvl, lim,
        )  # fmt: skip
        return out

    def evidence(self, i: int, b: int, value: float, limit: float) -> Evidence:
        window_s = self.bucket_ms[b] * self.N_BUCKETS / 1000.0
        return Evidence.of(window_s=window_s, baseline=limit)


class NightFlowTable(KindTable):
    kind = "night_flow"
    step = staticmethod(night_flow.step)
    example: ClassVar[dict[str, Any]] = {"kind": "night_flow", "smooth_s": 1, "min_nights": 1}

    def __init__(self, bindings: Sequence[Binding], points: Sequence[PointMeta]) -> None:
        super().__init__(bindings, points)
        day = night_flow.DAY_MS
        self.start_ms = self.column(lambda r, _: ms(r.night_start_h * 3600), np.int64)
        self.len_ms = self.column(
            lambda r, _: (ms(r.night_end_h * 3600) - ms(r.night_start_h * 3600)) % day, np.int64
        )
        self.off_ms = self.column(lambda r, _: ms(r.utc_offset_h * 3600), np.int64)
        self.smooth_ms = self.column(
            lambda r, p: ms(scaled(r.smooth_s, p.poll_s, SMOOTH_POLLS)), np.int64
        )
        self.frac = self.column(lambda r, _: r.rise_fraction, np.float64)
        self.rabs = self.column(lambda r, _: r.rise_abs, np.float64)
        self.min_n = self.column(lambda r, _: r.min_nights, np.int64)
        self.hist = self.column(lambda r, _: r.history, np.int64)
        self.need = self.column(lambda r, _: r.nights, np.int64)
        self.level = self.column(lambda r, _: r.level, np.int8)
        h = int(self.hist.max()) if self.n else 1
        self.ew = self.state("ew", (), np.float64, 0.0)
        self.ew_t = self.state("ew_t", (), np.int64, 0)
        self.ew_start = self.state("ew_start", (), np.int64, -1)
        self.night = self.state("night", (), np.int64, -1)
        self.night_min = self.state("night_min", (), np.float64, np.nan)
        self.ring = self.state("ring", (h,), np.float64, np.nan)
        self.ring_pos = self.state("ring_pos", (), np.int64, 0)
        self.ring_n = self.state("ring_n", (), np.int64, 0)
        self.streak = self.state("streak", (), np.int64, 0)
        self.scratch = np.zeros(h, dtype=np.float64)
        self.values: np.ndarray | None = None  # the MNF of each output of the last run
        self.base = np.empty(0)  # and the median of the past nights it was compared with

    def adopt(self, b: int, other: KindTable, ob: int) -> None:
        super().adopt(b, other, ob)
        if other.ring.shape[1] != self.ring.shape[1] or other.hist[ob] != self.hist[b]:  # type: ignore[attr-defined]
            self.ring[b], self.ring_pos[b], self.ring_n[b] = np.nan, 0, 0  # relearn the nights

    def run(self, bind: np.ndarray, ts: np.ndarray, value: np.ndarray, good: np.ndarray) -> Outputs:
        lvl, lim, _ = out = self.outputs(bind.shape[0])
        self.values = np.empty(bind.shape[0], dtype=np.float64)
        self.base = np.empty(bind.shape[0], dtype=np.float64)
        self.step(
            self.start_ms, self.len_ms, self.off_ms, self.smooth_ms, self.frac, self.rabs,
            self.min_n, self.hist, self.need, self.level, self.ew, self.ew_t, self.ew_start,
            self.night, self.night_min, self.ring, self.ring_pos, self.ring_n, self.streak,
            self.active, self.scratch, bind, ts, value, good, lvl, lim, self.values,
            self.base,
        )  # fmt: skip
        return out

    def evidence(self, i: int, b: int, value: float, limit: float) -> Evidence:
        """The night window, the median of the past nights, and the MNF's excess over it."""
        base = float(self.base[i])
        return Evidence.of(window_s=self.len_ms[b] / 1000.0, baseline=base, delta=value - base)
