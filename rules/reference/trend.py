"""Plain-Python reference of rules.kernels.trend.step.

Different inside on purpose: no running sums. The window's samples (kept in
the same ring, as a FIFO) are refitted from scratch with the textbook
centred formula slope = sum((t - t_mean)(x - x_mean)) / sum((t - t_mean)^2).
The slope's significance comes from the residuals themselves,
SE = sqrt(sum((x - fit)^2) / (n - 2) / sum((t - t_mean)^2)), not from running
sums. Results match the kernel to rounding; `count`, `active`, `clear_since` exactly.
"""

from __future__ import annotations

import math

import numpy as np

K_SE = 3.0  # as rules.kernels.trend.K_SE


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
    for i in range(len(bind)):
        out_level[i] = -1
        out_limit[i] = math.nan
        out_eta[i] = math.nan
        out_fit[i] = math.nan
        out_slope[i] = math.nan
        x = float(value[i])
        if good[i] == 0 or math.isnan(x):
            continue
        b, t = int(bind[i]), int(ts[i])
        if despike[b]:
            prev, prev_x[b] = float(prev_x[b]), x
            if not math.isnan(prev):
                x = min(x, prev) if sign[b] > 0 else max(x, prev)
        win = [
            (int(buf_ts[b, (head[b] + k) % cap]), float(buf_x[b, (head[b] + k) % cap]))
            for k in range(int(count[b]))
        ]
        win = [(tj, xj) for tj, xj in win if tj >= t - window_ms[b]][-(cap - 1) :]
        win.append((t, x))
        head[b], count[b] = 0, len(win)
        for k, (tj, xj) in enumerate(win):
            buf_ts[b, k], buf_x[b, k] = tj, xj
        eta = math.nan
        fit = math.nan
        sl = math.nan
        full = 2 * (t - win[0][0]) >= window_ms[b] or len(win) == cap
        if len(win) >= min_n[b] and full:
            n = len(win)
            tt = [(tj - win[0][0]) / 1000.0 for tj, _ in win]
            t_mean = sum(tt) / n
            x_mean = sum(xj for _, xj in win) / n
            sxx = sum((a - t_mean) ** 2 for a in tt)
            if sxx > 1e-9 * n:
                sxy = sum((a - t_mean) * (xj - x_mean) for a, (_, xj) in zip(tt, win, strict=True))
                slope = sxy / sxx
                x_hat = x_mean + slope * (tt[-1] - t_mean)
                rss = sum(
                    (xj - x_mean - slope * (a - t_mean)) ** 2
                    for a, (_, xj) in zip(tt, win, strict=True)
                )
                se = math.sqrt(rss / (n - 2) / sxx)
                toward = float(sign[b]) * slope
                if toward > min_slope[b] and toward > 0.0 and abs(slope) >= K_SE * se:
                    gap = float(sign[b]) * (limit[b] - x_hat)
                    eta = max(gap, 0.0) / toward
                    fit = x_hat
                    sl = slope
        new = int(active[b])
        cond = eta < horizon_s[b]  # False for NaN
        cond_since[b] = (t if cond_since[b] < 0 else cond_since[b]) if cond else -1
        if cond:
            clear_since[b] = -1
            if t - cond_since[b] >= on_ms[b]:
                new = int(level[b])
        elif active[b] > 0:
            if clear_since[b] < 0:
                clear_since[b] = t
            if t - clear_since[b] >= off_ms[b]:
                new = 0
                clear_since[b] = -1
        if new != active[b]:
            active[b] = new
            out_level[i] = new
            out_limit[i] = limit[b]
            out_eta[i] = eta if new > 0 else math.nan
            out_fit[i] = fit if new > 0 else math.nan
            out_slope[i] = sl if new > 0 else math.nan
            n_changed += 1
    return n_changed
