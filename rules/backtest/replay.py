"""The replay: samples in time order through a fresh engine, in batches, with
`engine.tick` every `tick_s` of data time so stale and composite-window rules behave as
live. As the decoder does live, a reading outside its point's range is bad quality (only
the `range` rule looks at it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from rules.backtest.readings import Readings
from rules.backtest.report import BacktestResult, summarize
from rules.engine import Engine
from rules.events import AlarmTransition, PointMeta
from rules.spec import RuleSet

Progress = Callable[[int, int], None]  # (samples done, samples total)


def backtest(
    ruleset: RuleSet,
    points: Sequence[PointMeta],
    data: Readings,
    mode: str = "normal",
    tick_s: float = 10.0,
    batch: int = 65_536,
    progress: Progress | None = None,
) -> BacktestResult:
    """Replay `data` through a fresh engine; transitions in time order, and a summary."""
    points = with_poll(points, data)
    engine = Engine(ruleset, points, mode, tick_every_ms=0)  # ticks are explicit here
    # map the data's point keys to engine indices (-1: unknown point, skipped)
    remap = np.array([engine.find(k) for k in data.keys], dtype=np.int64)
    pidx = remap[data.point_idx] if len(data) else np.empty(0, dtype=np.int64)
    keep = pidx >= 0
    skipped = int((~keep).sum())
    pidx, ts, val, good = pidx[keep], data.ts_ms[keep], data.value[keep], data.good[keep].copy()
    # as the decoder does live: a reading outside the sensor's range is bad quality
    lo = np.array([p.range_lo for p in engine.points])[pidx]
    hi = np.array([p.range_hi for p in engine.points])[pidx]
    good[(val < lo) | (val > hi)] = 0
    n = int(ts.shape[0])
    out: list[AlarmTransition] = []
    tick_ms = max(1, round(tick_s * 1000))
    needs_tick = "stale" in engine.tables or engine.composite.n > 0
    if n:
        out += engine.tick(int(ts[0]))
    i = 0
    while i < n:
        j = min(i + batch, n)
        if needs_tick:  # cut the batch at the next tick boundary
            next_tick = (int(ts[i]) // tick_ms + 1) * tick_ms
            j = i + int(np.searchsorted(ts[i:j], next_tick, side="left"))
            j = max(j, i + 1)
        out += engine.process_batch(pidx[i:j], ts[i:j], val[i:j], good[i:j])
        if needs_tick and j < n:
            t_next = int(ts[j])
            t = (int(ts[j - 1]) // tick_ms + 1) * tick_ms
            while t <= t_next:  # every tick the data's time passes, gaps included
                out += engine.tick(t)
                t += tick_ms if t_next - t < 1000 * tick_ms else max(tick_ms, (t_next - t) // 2)
        if progress is not None:
            progress(j, n)
        i = j
    end = int(ts[-1]) if n else 0
    units = {p.key: p.unit for p in engine.points}
    return BacktestResult(
        out, summarize(out, end), n, skipped, data,
        units=units, not_assessing=list(engine.not_assessing),
    )  # fmt: skip


def with_poll(points: Sequence[PointMeta], data: Readings) -> list[PointMeta]:
    """Points without a known poll interval get the median step of their readings in the
    data, so windows scale (and refuse) as they would on the gateway (rules.sampling)."""
    if not len(data):
        return list(points)
    steps = dict(zip(data.keys, infer_poll_s(data.ts_ms, data.point_idx, len(data.keys)),
                     strict=True))  # fmt: skip
    return [
        p if p.poll_s is not None or steps.get(p.key) is None else replace(p, poll_s=steps[p.key])
        for p in points
    ]


def infer_poll_s(ts_ms: np.ndarray, point_idx: np.ndarray, n_points: int) -> list[float | None]:
    """Per point, the median step between its readings in seconds (None with fewer than 3
    readings): what a backtest takes as the point's poll interval."""
    order = np.lexsort((ts_ms, point_idx))
    idx, ts = point_idx[order], ts_ms[order]
    same = idx[1:] == idx[:-1]
    steps, owner = np.diff(ts)[same], idx[1:][same]
    out: list[float | None] = []
    for p in range(n_points):
        mine = steps[owner == p]
        out.append(float(np.median(mine)) / 1000.0 if mine.shape[0] >= 2 else None)
    return out
