"""The replay: samples in time order through a fresh engine, in batches, with
`engine.tick` every `tick_s` of data time so stale and composite-window rules behave as
live. As the decoder does live, a reading outside its point's range is bad quality (only
the `range` rule looks at it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

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
    return BacktestResult(out, summarize(out, end), n, skipped, data, units)
