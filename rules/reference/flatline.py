"""Plain-Python reference of rules.kernels.flatline.step (see its docstring for the maths)."""

from __future__ import annotations

import math

import numpy as np


def step(
    eps: np.ndarray,
    floor: np.ndarray,
    dur_ms: np.ndarray,
    level: np.ndarray,
    run_lo: np.ndarray,
    run_hi: np.ndarray,
    run_start: np.ndarray,
    active: np.ndarray,
    bind: np.ndarray,
    ts: np.ndarray,
    value: np.ndarray,
    good: np.ndarray,
    out_level: np.ndarray,
    out_limit: np.ndarray,
) -> int:
    n_changed = 0
    for i in range(len(bind)):
        out_level[i] = -1
        out_limit[i] = math.nan
        x = float(value[i])
        if good[i] == 0 or math.isnan(x):
            continue
        b, t = int(bind[i]), int(ts[i])
        if x <= floor[b]:
            run_start[b] = -1
            stuck = False
        else:
            lo, hi = min(run_lo[b], x), max(run_hi[b], x)
            if run_start[b] < 0 or hi - lo > eps[b]:
                run_start[b], lo, hi = t, x, x
            run_lo[b], run_hi[b] = lo, hi
            stuck = t - run_start[b] >= dur_ms[b] and run_start[b] != t
        new = int(level[b]) if stuck else 0
        if new != active[b]:
            active[b] = new
            out_level[i] = new
            out_limit[i] = eps[b]
            n_changed += 1
    return n_changed
