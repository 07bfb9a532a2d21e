"""Baseline: the residual of a reading against its time-of-day baseline, learned online.

Maths. Local time is ts + utc_offset; day d = floor(local / day), slot
k = floor((local - d day) / slot) and, with `weekends`, k += n_slots on Saturday and
Sunday (day 0, 1970-01-01, was a Thursday: weekday = (d + 3) mod 7, 5 and 6 are the
weekend). Per (binding, k): the expected value m, the mean absolute residual a, the
samples n and the distinct days D learned. The spread is s = max(1.2533 a, sigma_min)
(1.2533 a is sigma for normal residuals). A slot is warm once D >= min_days.

Decision on a sample x with sign g (+1 above, -1 below): when warm, the threshold is
thr = m + g max(n_sigma s, min_delta, min_fraction |m|); in cold start
thr = cold_limit (NaN: the binding cannot assess yet). The condition is g (x - thr) >= 0;
it must hold for on_ms to raise `level` and be false for off_ms to clear (as
rules.kernels.rate).

Learning, after the decision, only while the binding is neither pending nor active
(an incident never becomes the baseline): D += 1 on a new day for the slot, n += 1,
r = x - m (m = x on the first sample), clipped to +-2.5 s once warm (a robust, Huber
type EWMA: one wild reading moves m by little), then m += alpha r, a += alpha (|r| - a)
with alpha = 1/n while D <= learn_days (an equal-weight mean of the first days) and
alpha = D / (learn_days n) after (an EWMA over about learn_days days, whatever the poll
interval). O(1) per sample; NaN or bad quality skips.

State (per binding b, slot k): mean[b, K], mad[b, K] float64, n[b, K], days[b, K],
last_day[b, K] int64; active[b] int8, cond_since[b], clear_since[b] int64.
Parameters: sign[b] int8, n_sigma[b], min_delta[b], min_fraction[b], sigma_min[b],
cold_limit[b] float64,
utc_ms[b], slot_ms[b], n_slots[b], weekends[b] int8 (0/1), learn_days[b], min_days[b],
on_ms[b], off_ms[b] int64, level[b] int8.
Outputs as rules.kernels.threshold (out_limit = thr), plus out_base[m] (m at a raise,
NaN in cold start) and out_cold[m] int8 (1: decided on the cold-start limit).
Reference: rules.reference.baseline.step.
"""

from __future__ import annotations

import numpy as np
from numba import njit

DAY_MS = 86_400_000
CLIP = 2.5  # residuals are clipped to this many spreads once a slot is warm
MAD_TO_SIGMA = 1.2533141373155003  # sqrt(pi / 2)


@njit(cache=True)
def step(
    sign: np.ndarray,
    n_sigma: np.ndarray,
    min_delta: np.ndarray,
    min_fraction: np.ndarray,
    sigma_min: np.ndarray,
    cold_limit: np.ndarray,
    utc_ms: np.ndarray,
    slot_ms: np.ndarray,
    n_slots: np.ndarray,
    weekends: np.ndarray,
    learn_days: np.ndarray,
    min_days: np.ndarray,
    on_ms: np.ndarray,
    off_ms: np.ndarray,
    level: np.ndarray,
    mean: np.ndarray,
    mad: np.ndarray,
    n: np.ndarray,
    days: np.ndarray,
    last_day: np.ndarray,
    active: np.ndarray,
    cond_since: np.ndarray,
    clear_since: np.ndarray,
    bind: np.ndarray,
    ts: np.ndarray,
    value: np.ndarray,
    good: np.ndarray,
    out_level: np.ndarray,
    out_limit: np.ndarray,
    out_base: np.ndarray,
    out_cold: np.ndarray,
) -> int:
    n_changed = 0
    for i in range(bind.shape[0]):
        out_level[i] = -1
        out_limit[i] = np.nan
        out_base[i] = np.nan
        out_cold[i] = 0
        x = value[i]
        if good[i] == 0 or np.isnan(x):
            continue
        b = bind[i]
        t = ts[i]
        loc = t + utc_ms[b]
        d = loc // DAY_MS
        k = (loc - d * DAY_MS) // slot_ms[b]
        if weekends[b] != 0 and (d + 3) % 7 >= 5:
            k += n_slots[b]
        g = np.float64(sign[b])
        warm = days[b, k] >= min_days[b]
        m = mean[b, k]
        s = max(MAD_TO_SIGMA * mad[b, k], sigma_min[b])
        thr = np.nan
        cold = False
        if warm:
            thr = m + g * max(n_sigma[b] * s, min_delta[b], min_fraction[b] * abs(m))
        elif not np.isnan(cold_limit[b]):
            thr = cold_limit[b]
            cold = True
        cond = (not np.isnan(thr)) and g * (x - thr) >= 0.0
        new = active[b]
        if cond:
            clear_since[b] = -1
            if cond_since[b] < 0:
                cond_since[b] = t
            if t - cond_since[b] >= on_ms[b]:
                new = level[b]
        else:
            cond_since[b] = -1
            if active[b] > 0:
                if clear_since[b] < 0:
                    clear_since[b] = t
                if t - clear_since[b] >= off_ms[b]:
                    new = 0
                    clear_since[b] = -1
        if new != active[b]:
            active[b] = new
            out_level[i] = new
            out_limit[i] = thr
            if new > 0:
                out_base[i] = m if warm else np.nan
                out_cold[i] = 1 if cold else 0
            n_changed += 1
        if active[b] > 0 or cond_since[b] >= 0:
            continue  # an incident is never learned
        if last_day[b, k] != d:
            last_day[b, k] = d
            days[b, k] += 1
        n[b, k] += 1
        if n[b, k] == 1:
            mean[b, k] = x
            mad[b, k] = 0.0
            continue
        r = x - m
        if warm:
            r = min(max(r, -CLIP * s), CLIP * s)
        if days[b, k] <= learn_days[b]:
            alpha = 1.0 / n[b, k]
        else:
            alpha = days[b, k] / (learn_days[b] * np.float64(n[b, k]))
        mean[b, k] = m + alpha * r
        mad[b, k] += alpha * (abs(r) - mad[b, k])
    return n_changed
