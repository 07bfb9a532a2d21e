"""Trend: least-squares slope over a window W and the predicted time to reach a limit.

Maths. For the samples (t_j, x_j) in [t - W, t], with t_j in seconds relative
to a per-binding reference t_ref, keep the running sums
S0 = n, S1 = sum t, S2 = sum t^2, Sx = sum x, Stx = sum t*x, Sxx = sum x^2.
Then

    slope = (S0*Stx - S1*Sx) / (S0*S2 - S1^2),  intercept = (Sx - slope*S1) / S0,
    x_hat = intercept + slope * t_now

A prediction needs a slope the noise cannot explain and a window that has
filled. With Ctt = S2 - S1^2/n, Cxx = Sxx - Sx^2/n, Ctx = Stx - S1*Sx/n, the
residual sum of squares is RSS = Cxx - slope*Ctx (>= 0), the slope's standard
error SE = sqrt(RSS / (n - 2) / Ctt), and the slope counts only when
|slope| >= K_SE * SE (K_SE = 3: a t-test at about 3 sigma), i.e.
slope^2 * Ctt * (n - 2) >= K_SE^2 * RSS. The window must also span at least
half of W (t_now - oldest sample >= W/2), or fill the ring: at a 1 s poll four
samples span 3 s, and 3 mm of level noise over 3 s is a slope of metres an hour.

and with sign s = +1 (limit above) or -1 (below), gap = s*(limit - x_hat),
eta_s = max(gap, 0) / (s*slope) when s*slope > min_slope (heading for the
limit), else no prediction. The alarm holds while eta_s < horizon_s (and at
least min_n samples are in the window) once that has lasted on_ms (a spike
tilts the fit for as long as it is in the window, so an on-delay is the spike
guard); it clears after off_ms without.
A new sample adds to the sums and expired ones (kept in a ring of cap slots)
are subtracted: O(1) amortized. t_ref is re-centred on the oldest sample,
with the sums recomputed from the ring, when the window empties or t - t_ref
exceeds 8 W, so S2 never grows enough to cancel. A full ring drops its oldest
sample (the window is then shorter than W). NaN or bad quality skips the sample.
With `despike`, the fit sees r_t = min(x_t, x_prev) (max when heading below):
a lone reading that jumps towards the limit and comes back never enters it, at
the price of seeing a real rise one sample late.

State (per binding b): buf_ts[b, cap] int64, buf_x[b, cap] float64, head[b],
count[b] int64, t_ref[b] int64, sums[b, 6] float64 (S0, S1, S2, Sx, Stx, Sxx),
active[b] int8, clear_since[b], cond_since[b] int64.
Parameters: sign[b] int8, limit[b], horizon_s[b], min_slope[b] (units/s)
float64, window_ms[b], min_n[b], on_ms[b], off_ms[b] int64, level[b], despike[b]
int8; state prev_x[b] float64 (NaN: none).
Outputs as rules.kernels.threshold plus out_eta[m], out_fit[m], out_slope[m] float64
(at a raise: eta_s, the fit's value now x_hat and the slope per second, the alarm's
evidence; NaN otherwise). Reference: rules.reference.trend.step.
"""

from __future__ import annotations

import numpy as np
from numba import njit

K_SE = 3.0  # a slope must be at least K_SE standard errors from zero


@njit(cache=True)
def step(
    sign: np.ndarray,
    limit: np.ndarray,
    horizon_s: np.ndarray,
    min_slope: np.ndarray,
    window_ms: np.ndarray,
    min_n: np.ndarray,
    on_ms: np.ndarray,
    off_ms: np.ndarray,
    level: np.ndarray,
    despike: np.ndarray,
    buf_ts: np.ndarray,
    buf_x: np.ndarray,
    head: np.ndarray,
    count: np.ndarray,
    t_ref: np.ndarray,
    sums: np.ndarray,
    active: np.ndarray,
    clear_since: np.ndarray,
    cond_since: np.ndarray,
    prev_x: np.ndarray,
    bind: np.ndarray,
    ts: np.ndarray,
    value: np.ndarray,
    good: np.ndarray,
    out_level: np.ndarray,
    out_limit: np.ndarray,
    out_eta: np.ndarray,
    out_fit: np.ndarray,
    out_slope: np.ndarray,
) -> int:
    cap = buf_ts.shape[1]
    n_changed = 0
    for i in range(bind.shape[0]):
        out_level[i] = -1
        out_limit[i] = np.nan
        out_eta[i] = np.nan
        out_fit[i] = np.nan
        out_slope[i] = np.nan
        x = value[i]
        if good[i] == 0 or np.isnan(x):
            continue
        b = bind[i]
        t = ts[i]
        if despike[b] != 0:  # erode towards the safe side: a lone spike never enters the fit
            raw = x
            if not np.isnan(prev_x[b]):
                x = min(x, prev_x[b]) if sign[b] > 0 else max(x, prev_x[b])
            prev_x[b] = raw
        # expire old samples, and make room in a full ring
        while count[b] > 0 and (buf_ts[b, head[b]] < t - window_ms[b] or count[b] == cap):
            h = head[b]
            tj = (buf_ts[b, h] - t_ref[b]) / 1000.0
            xj = buf_x[b, h]
            sums[b, 0] -= 1.0
            sums[b, 1] -= tj
            sums[b, 2] -= tj * tj
            sums[b, 3] -= xj
            sums[b, 4] -= tj * xj
            sums[b, 5] -= xj * xj
            head[b] = (h + 1) % cap
            count[b] -= 1
        # re-centre: fresh sums from the ring, relative to its oldest sample (or this one)
        if count[b] == 0 or t - t_ref[b] > 8 * window_ms[b]:
            t_ref[b] = buf_ts[b, head[b]] if count[b] > 0 else t
            for k in range(6):
                sums[b, k] = 0.0
            for k in range(count[b]):
                p = (head[b] + k) % cap
                tj = (buf_ts[b, p] - t_ref[b]) / 1000.0
                sums[b, 0] += 1.0
                sums[b, 1] += tj
                sums[b, 2] += tj * tj
                sums[b, 3] += buf_x[b, p]
                sums[b, 4] += tj * buf_x[b, p]
                sums[b, 5] += buf_x[b, p] * buf_x[b, p]
        pos = (head[b] + count[b]) % cap
        buf_ts[b, pos] = t
        buf_x[b, pos] = x
        count[b] += 1
        tn = (t - t_ref[b]) / 1000.0
        sums[b, 0] += 1.0
        sums[b, 1] += tn
        sums[b, 2] += tn * tn
        sums[b, 3] += x
        sums[b, 4] += tn * x
        sums[b, 5] += x * x
        eta = np.nan
        fit = np.nan
        sl = np.nan
        span_ms = t - buf_ts[b, head[b]]
        if count[b] >= min_n[b] and (2 * span_ms >= window_ms[b] or count[b] == cap):
            s0 = sums[b, 0]
            den = s0 * sums[b, 2] - sums[b, 1] * sums[b, 1]
            if den > 1e-9 * s0 * s0:
                slope = (s0 * sums[b, 4] - sums[b, 1] * sums[b, 3]) / den
                x_hat = (sums[b, 3] - slope * sums[b, 1]) / s0 + slope * tn
                ctt = den / s0
                ctx = sums[b, 4] - sums[b, 1] * sums[b, 3] / s0
                cxx = sums[b, 5] - sums[b, 3] * sums[b, 3] / s0
                rss = max(cxx - slope * ctx, 0.0)
                toward = sign[b] * slope
                significant = slope * slope * ctt * (s0 - 2.0) >= K_SE * K_SE * rss
                if toward > min_slope[b] and toward > 0.0 and significant:
                    gap = sign[b] * (limit[b] - x_hat)
                    eta = max(gap, 0.0) / toward
                    fit = x_hat
                    sl = slope
        new = active[b]
        if eta < horizon_s[b]:
            clear_since[b] = -1
            if cond_since[b] < 0:
                cond_since[b] = t
            if t - cond_since[b] >= on_ms[b]:
                new = level[b]
        else:
            cond_since[b] = -1
        if not eta < horizon_s[b] and active[b] > 0:
            if clear_since[b] < 0:
                clear_since[b] = t
            if t - clear_since[b] >= off_ms[b]:
                new = 0
                clear_since[b] = -1
        if new != active[b]:
            active[b] = new
            out_level[i] = new
            out_limit[i] = limit[b]
            out_eta[i] = eta if new > 0 else np.nan
            out_fit[i] = fit if new > 0 else np.nan
            out_slope[i] = sl if new > 0 else np.nan
            n_changed += 1
    return n_changed
