"""Plain-Python reference of rules.kernels.drift.step (see its docstring for the maths)."""

from __future__ import annotations

import math

import numpy as np


def step(
    k: np.ndarray,
    h: np.ndarray,
    tau_s: np.ndarray,
    sigma_min: np.ndarray,
    warmup: np.ndarray,
    hold_ms: np.ndarray,
    level: np.ndarray,
    n: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    s_hi: np.ndarray,
    s_lo: np.ndarray,
    last_ts: np.ndarray,
    last_cross: np.ndarray,
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
        if not good[i] or math.isnan(x):
            continue
        b, t = int(bind[i]), int(ts[i])
        base = float(mean[b])
        crossed = False
        if n[b] < warmup[b]:  # Welford on the first samples
            n[b] += 1
            m_old = float(mean[b])
            m_new = m_old + (x - m_old) / int(n[b])
            var[b] = max(var[b] + ((x - m_old) * (x - m_new) - var[b]) / int(n[b]), 0.0)
            mean[b] = m_new
        else:
            sigma = max(math.sqrt(var[b]), float(sigma_min[b]))
            z = (x - mean[b]) / sigma
            s_hi[b] = max(0.0, s_hi[b] + z - k[b])
            s_lo[b] = max(0.0, s_lo[b] - z - k[b])
            crossed = bool(s_hi[b] > h[b] or s_lo[b] > h[b])
            if crossed:
                s_hi[b] = s_lo[b] = 0.0
                n[b] = 0
                last_cross[b] = t
            else:
                dt = max(t - int(last_ts[b]), 0) / 1000.0
                alpha = dt / (tau_s[b] + dt)
                d = x - mean[b]
                mean[b] = mean[b] + alpha * d
                var[b] = (1.0 - alpha) * (var[b] + alpha * d * d)
        last_ts[b] = t
        if crossed:
            new = int(level[b])
        elif active[b] and t - last_cross[b] >= hold_ms[b]:
            new = 0
        else:
            new = int(active[b])
        if new != active[b]:
            active[b] = new
            out_level[i] = new
            out_limit[i] = base
            n_changed += 1
    return n_changed
