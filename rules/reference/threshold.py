"""Plain-Python reference of rules.kernels.threshold.step (see its docstring for the maths)."""

from __future__ import annotations

import math

import numpy as np


def step(
    limits: np.ndarray,
    direction: np.ndarray,
    hyst: np.ndarray,
    on_ms: np.ndarray,
    off_ms: np.ndarray,
    active: np.ndarray,
    since: np.ndarray,
    below_since: np.ndarray,
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
        d, a = float(direction[b]), int(active[b])
        levels = [(k + 1, float(limits[b, k])) for k in range(4) if not math.isnan(limits[b, k])]
        conds = {}
        for lvl, lim in levels:
            margin = float(hyst[b]) if 0 < a <= lvl else 0.0
            conds[lvl] = d * x >= d * lim - margin
            if conds[lvl]:
                if since[b, lvl - 1] < 0:
                    since[b, lvl - 1] = t
            else:
                since[b, lvl - 1] = -1
        held = [
            lvl for lvl, ok in conds.items() if ok and t - since[b, lvl - 1] >= on_ms[b, lvl - 1]
        ]
        confirmed = min(held) if held else 0
        new = a
        if confirmed and (a == 0 or confirmed < a):
            new = confirmed
            below_since[b] = -1
        elif a > 0 and not conds.get(a, False):
            if below_since[b] < 0:
                below_since[b] = t
            if t - below_since[b] >= off_ms[b]:
                new = confirmed
                below_since[b] = -1
        else:
            below_since[b] = -1
        if new != a:
            active[b] = new
            out_level[i] = new
            out_limit[i] = limits[b, new - 1] if new > 0 else limits[b, a - 1]
            n_changed += 1
    return n_changed
