"""Drift: two-sided CUSUM of standardised deviations from a slow baseline, reset on alarm.

Maths (Page 1954, with an adaptive baseline). The first `warmup` good samples
give the baseline mean m and variance v (Welford). After that, with
sigma = max(sqrt(v), sigma_min) and z = (x - m) / sigma,

    S+ <- max(0, S+ + z - k),   S- <- max(0, S- - z - k)

A crossing (S+ > h or S- > h) raises the alarm (or keeps it), resets
S+ = S- = 0 and restarts the warm-up, so the baseline and sigma are learned
afresh after the shift and a persistent shift raises once. Otherwise
the baseline follows slowly, by an EWMA with alpha = dt / (tau + dt) for the
irregular step dt (a rational form of 1 - exp(-dt/tau): no libm, so the
reference matches to the bit): d = x - m; m += alpha d; v = (1 - alpha)(v + alpha d^2).
The alarm clears `hold_ms` after the last crossing. NaN or bad quality skips. O(1).

State (per binding b): n[b] int64, mean[b], var[b], s_hi[b], s_lo[b] float64,
last_ts[b], last_cross[b] int64, active[b] int8.
Parameters: k[b], h[b], tau_s[b], sigma_min[b] float64, warmup[b], hold_ms[b]
int64, level[b] int8. Batch and outputs as in rules.kernels.threshold
(out_limit = the baseline the value drifted from). Reference: rules.reference.drift.step.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
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
    for i in range(bind.shape[0]):
        out_level[i] = -1
        out_limit[i] = np.nan
        x = value[i]
        if good[i] == 0 or np.isnan(x):
            continue
        b = bind[i]
        t = ts[i]
        new = active[b]
        base = mean[b]
        crossed = False
        if n[b] < warmup[b]:
            n[b] += 1
            d = x - mean[b]
            mean[b] += d / n[b]
            var[b] = max(var[b] + (d * (x - mean[b]) - var[b]) / n[b], 0.0)  # no -0 by rounding
        else:
            sigma = max(np.sqrt(var[b]), sigma_min[b])
            z = (x - mean[b]) / sigma
            s_hi[b] = max(0.0, s_hi[b] + z - k[b])
            s_lo[b] = max(0.0, s_lo[b] - z - k[b])
            if s_hi[b] > h[b] or s_lo[b] > h[b]:
                crossed = True
                s_hi[b] = 0.0
                s_lo[b] = 0.0
                n[b] = 0  # restart the chart: baseline and sigma re-learned after the shift
                last_cross[b] = t
                new = level[b]
            else:
                dt = max(t - last_ts[b], 0) / 1000.0
                alpha = dt / (tau_s[b] + dt)
                d = x - mean[b]
                mean[b] += alpha * d
                var[b] = (1.0 - alpha) * (var[b] + alpha * d * d)
        last_ts[b] = t
        if active[b] > 0 and not crossed and t - last_cross[b] >= hold_ms[b]:
            new = 0
        if new != active[b]:
            active[b] = new
            out_level[i] = new
            out_limit[i] = base
            n_changed += 1
    return n_changed
