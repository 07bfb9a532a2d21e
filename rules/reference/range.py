"""Plain-Python reference of rules.kernels.range.step (see its docstring for the maths)."""

from __future__ import annotations

import math

import numpy as np


def step(
    lo: np.ndarray,
    hi: np.ndarray,
    count_n: np.ndarray,
    level: np.ndarray,
    n_out: np.ndarray,
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
        if math.isnan(x):
            continue
        b = int(bind[i])
        below, above = x < lo[b], x > hi[b]
        n_out[b] = n_out[b] + 1 if (below or above) else 0
        new = int(level[b]) if n_out[b] >= count_n[b] else (0 if n_out[b] == 0 else int(active[b]))
        if new != active[b]:
            active[b] = new
            out_level[i] = new
            out_limit[i] = lo[b] if below else (hi[b] if above else math.nan)
            n_changed += 1
    return n_changed
