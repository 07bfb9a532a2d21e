"""Plain-Python reference of rules.kernels.night_flow.step.

Different inside on purpose: local time goes through divmod on Python ints, the EWMA gain
is -expm1(-dt / tau), and the baseline is
statistics.median of the ring's nights listed oldest first.
"""

from __future__ import annotations

import math
import statistics

import numpy as np

DAY_MS = 86_400_000


def step(
    start_ms: np.ndarray,
    len_ms: np.ndarray,
    off_ms: np.ndarray,
    smooth_ms: np.ndarray,
    frac: np.ndarray,
    rabs: np.ndarray,
    min_n: np.ndarray,
    hist: np.ndarray,
    need: np.ndarray,
    level: np.ndarray,
    ew: np.ndarray,
    ew_t: np.ndarray,
    ew_start: np.ndarray,
    night: np.ndarray,
    night_min: np.ndarray,
    ring: np.ndarray,
    ring_pos: np.ndarray,
    ring_n: np.ndarray,
    streak: np.ndarray,
    active: np.ndarray,
    scratch: np.ndarray,
    bind: np.ndarray,
    ts: np.ndarray,
    value: np.ndarray,
    good: np.ndarray,
    out_level: np.ndarray,
    out_limit: np.ndarray,
    out_value: np.ndarray,
    out_base: np.ndarray,
) -> int:
    n_changed = 0
    for i in range(len(bind)):
        out_level[i] = -1
        out_limit[i] = out_value[i] = out_base[i] = math.nan
        x = float(value[i])
        if not good[i] or math.isnan(x):
            continue
        b, t = int(bind[i]), int(ts[i])
        started = int(ew_start[b]) >= 0
        if started and t < int(ew_t[b]):
            continue  # late
        d, into = divmod(t + int(off_ms[b]) - int(start_ms[b]), DAY_MS)
        inwin = into < int(len_ms[b])
        if int(night[b]) >= 0 and (d != int(night[b]) or not inwin):
            mnf = float(night_min[b])
            night[b] = -1
            h, n, pos = int(hist[b]), int(ring_n[b]), int(ring_pos[b])
            if n >= int(min_n[b]):
                past = [float(ring[b, (pos - n + j) % h]) for j in range(n)]
                med = statistics.median(past)
                thr = max(med * (1.0 + float(frac[b])), med + float(rabs[b]))
                streak[b] = int(streak[b]) + 1 if mnf >= thr else 0
                if int(streak[b]) >= int(need[b]):
                    new = int(level[b])
                else:
                    new = 0 if int(streak[b]) == 0 else int(active[b])
                if new != int(active[b]):
                    active[b] = out_level[i] = new
                    out_limit[i], out_value[i], out_base[i] = thr, mnf, med
                    n_changed += 1
            if int(streak[b]) == 0:  # exceeding nights (a leak) are not learned
                ring[b, pos] = mnf
                ring_pos[b] = (pos + 1) % h
                ring_n[b] = min(n + 1, h)
        dt = t - int(ew_t[b])
        if not started or dt > int(smooth_ms[b]):
            ew[b], ew_start[b] = x, t
        else:
            gain = -math.expm1(-dt / (0.5 * float(smooth_ms[b])))
            ew[b] = float(ew[b]) + gain * (x - float(ew[b]))
        ew_t[b] = t
        if inwin and t - int(ew_start[b]) >= int(smooth_ms[b]):
            e = float(ew[b])
            night_min[b] = e if int(night[b]) != d else min(float(night_min[b]), e)
            night[b] = d
    return n_changed
