"""Plain-Python reference of rules.kernels.stale.step and tick (see its docstring)."""

from __future__ import annotations

import math

import numpy as np


def step(
    after_ms: np.ndarray,
    level: np.ndarray,
    last_good: np.ndarray,
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
        b, t = int(bind[i]), int(ts[i])
        usable = bool(good[i]) and not math.isnan(float(value[i]))
        if usable:
            last_good[b] = max(int(last_good[b]), t)
        elif last_good[b] < 0:
            last_good[b] = t
        silent_ms = t - int(last_good[b])
        new = 0 if usable else (int(level[b]) if silent_ms >= after_ms[b] else int(active[b]))
        if new != active[b]:
            active[b] = new
            out_level[i] = new
            out_limit[i] = after_ms[b] / 1000.0
            n_changed += 1
    return n_changed


def tick(
    after_ms: np.ndarray,
    level: np.ndarray,
    last_good: np.ndarray,
    active: np.ndarray,
    enabled: np.ndarray,
    now: int,
    out_level: np.ndarray,
) -> int:
    out_level[:] = -1
    n_changed = 0
    for b in range(len(after_ms)):
        if not enabled[b]:
            continue
        if last_good[b] < 0:
            last_good[b] = now
            continue
        if not active[b] and now - last_good[b] >= after_ms[b]:
            active[b] = out_level[b] = level[b]
            n_changed += 1
    return n_changed
