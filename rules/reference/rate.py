"""Plain-Python reference of rules.kernels.rate.step.

Deliberately different inside: the ring holds every sample of the window (a
plain FIFO, no monotonic deque) and the maximum is re-scanned each time, which
is O(window) but obviously right. Outputs, `active` and `clear_since` match
the kernel whenever the window fits the ring; the ring contents differ.
"""

from __future__ import annotations

import math

import numpy as np


def step(
    sign: np.ndarray,
    delta: np.ndarray,
    window_ms: np.ndarray,
    level: np.ndarray,
    on_ms: np.ndarray,
    off_ms: np.ndarray,
    despike: np.ndarray,
    buf_ts: np.ndarray,
    buf_y: np.ndarray,
    head: np.ndarray,
    count: np.ndarray,
    active: np.ndarray,
    clear_since: np.ndarray,
    cond_since: np.ndarray,
    prev_y: np.ndarray,
    bind: np.ndarray,
    ts: np.ndarray,
    value: np.ndarray,
    good: np.ndarray,
    out_level: np.ndarray,
    out_limit: np.ndarray,
    out_base: np.ndarray,
) -> int:
    cap = buf_ts.shape[1]
    n_changed = 0
    for i in range(len(bind)):
        out_level[i] = -1
        out_limit[i] = math.nan
        out_base[i] = math.nan
        x = float(value[i])
        if good[i] == 0 or math.isnan(x):
            continue
        b, t = int(bind[i]), int(ts[i])
        y = -float(sign[b]) * x
        prev = float(prev_y[b])
        r = min(y, prev) if despike[b] and not math.isnan(prev) else y
        prev_y[b] = y
        window = [
            (int(buf_ts[b, (head[b] + k) % cap]), float(buf_y[b, (head[b] + k) % cap]))
            for k in range(int(count[b]))
        ]
        window = [(tj, yj) for tj, yj in window if tj >= t - window_ms[b]][-(cap - 1) :]
        window.append((t, r))
        head[b], count[b] = 0, len(window)
        for k, (tj, yj) in enumerate(window):
            buf_ts[b, k], buf_y[b, k] = tj, yj
        new = int(active[b])
        cond = max(yj for _, yj in window) - y >= delta[b]
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
            out_limit[i] = delta[b]
            if new > 0:
                out_base[i] = -float(sign[b]) * max(yj for _, yj in window)
            n_changed += 1
    return n_changed
