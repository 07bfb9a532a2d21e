"""Plain-Python reference of rules.kernels.baseline.step.

Deliberately different inside: the slot and the day type come from `datetime` (local
time, weekday()) rather than integer arithmetic on the epoch, and the spread and the
update are spelled out as statistics (sigma from the mean absolute deviation, a Huber
clip, an equal-weight mean then an EWMA over learn_days days).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np

CLIP = 2.5
MAD_TO_SIGMA = 1.2533141373155003  # sqrt(pi / 2): sigma of a normal from its mean |deviation|


def _slot(t_ms: int, utc_ms: int, slot_ms: int, n_slots: int, weekends: bool) -> tuple[int, int]:
    local = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=t_ms + utc_ms)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    into_ms = (local - midnight) // timedelta(milliseconds=1)
    k = into_ms // slot_ms
    if weekends and local.weekday() >= 5:
        k += n_slots
    day = (midnight - datetime(1970, 1, 1, tzinfo=UTC)).days
    return int(k), day


def step(
    sign: np.ndarray, n_sigma: np.ndarray, min_delta: np.ndarray, min_fraction: np.ndarray,
    sigma_min: np.ndarray,
    cold_limit: np.ndarray, utc_ms: np.ndarray, slot_ms: np.ndarray, n_slots: np.ndarray,
    weekends: np.ndarray, learn_days: np.ndarray, min_days: np.ndarray, on_ms: np.ndarray,
    off_ms: np.ndarray, level: np.ndarray, mean: np.ndarray, mad: np.ndarray, n: np.ndarray,
    days: np.ndarray, last_day: np.ndarray, active: np.ndarray, cond_since: np.ndarray,
    clear_since: np.ndarray, bind: np.ndarray, ts: np.ndarray, value: np.ndarray,
    good: np.ndarray, out_level: np.ndarray, out_limit: np.ndarray, out_base: np.ndarray,
    out_cold: np.ndarray,
) -> int:  # fmt: skip
    n_changed = 0
    for i in range(len(bind)):
        out_level[i], out_limit[i], out_base[i], out_cold[i] = -1, math.nan, math.nan, 0
        x = float(value[i])
        if not good[i] or math.isnan(x):
            continue
        b, t = int(bind[i]), int(ts[i])
        k, day = _slot(t, int(utc_ms[b]), int(slot_ms[b]), int(n_slots[b]), bool(weekends[b]))
        warm = int(days[b, k]) >= int(min_days[b])
        m = float(mean[b, k])
        sigma = max(MAD_TO_SIGMA * float(mad[b, k]), float(sigma_min[b]))
        g = float(sign[b])
        if warm:
            margin = max(float(n_sigma[b]) * sigma, float(min_delta[b]))
            thr = m + g * max(margin, float(min_fraction[b]) * abs(m))
        else:
            thr = float(cold_limit[b])  # NaN: nothing to compare with yet
        cond = not math.isnan(thr) and g * (x - thr) >= 0.0
        new = int(active[b])
        if cond:
            clear_since[b] = -1
            cond_since[b] = t if cond_since[b] < 0 else cond_since[b]
            if t - int(cond_since[b]) >= int(on_ms[b]):
                new = int(level[b])
        else:
            cond_since[b] = -1
            if active[b] > 0:
                clear_since[b] = t if clear_since[b] < 0 else clear_since[b]
                if t - int(clear_since[b]) >= int(off_ms[b]):
                    new, clear_since[b] = 0, -1
        if new != int(active[b]):
            active[b] = out_level[i] = new
            out_limit[i] = thr
            if new > 0:
                out_base[i] = m if warm else math.nan
                out_cold[i] = 0 if warm else 1
            n_changed += 1
        if active[b] > 0 or cond_since[b] >= 0:
            continue
        if int(last_day[b, k]) != day:
            last_day[b, k] = day
            days[b, k] += 1
        n[b, k] += 1
        count = int(n[b, k])
        if count == 1:
            mean[b, k], mad[b, k] = x, 0.0
            continue
        resid = x - m
        if warm:
            resid = min(max(resid, -CLIP * sigma), CLIP * sigma)
        learned = int(days[b, k])
        per_day = count / learned
        alpha = 1.0 / count if learned <= int(learn_days[b]) else 1.0 / (learn_days[b] * per_day)
        mean[b, k] = m + alpha * resid
        mad[b, k] = float(mad[b, k]) + alpha * (abs(resid) - float(mad[b, k]))
    return n_changed
