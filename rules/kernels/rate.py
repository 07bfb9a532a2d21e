"""Rate of change: a change of at least `delta` within a time window W, over all bindings.

Maths. With y = x for "falling" and y = -x for "rising" (sign s = -1 / +1,
y = -s*x), the condition on a sample at t is

    max{ y_j : t - W <= t_j <= t } - y_t >= delta

i.e. the drop from the window's highest value (or the rise from its lowest)
to now. With `despike`, each sample enters the window as r_t = min(y_t, y_prev)
(the previous good sample), so one reading that jumps the wrong way and comes
back (a spike) never becomes the window's reference; a real step still does,
one sample later, and the current value is compared at once. The condition
must hold for `on_ms` (0: at once); a one-sample spike in the current value
is rejected by an on-delay of one sampling interval.

The window maximum comes from a monotonic deque (values strictly
decreasing from head to tail), so each sample is pushed and popped at most
once: amortized O(1). The deque lives in a ring of `cap` slots per binding;
when full, the oldest entry is dropped (the window is then shorter than W).
Raised when the condition has held for `on_ms`; cleared once it has been
false for `off_ms`. NaN or bad quality skips the sample.

State (per binding b): buf_ts[b, cap] int64, buf_y[b, cap] float64 (the deque),
head[b] int64, count[b] int64, active[b] int8, clear_since[b], cond_since[b]
int64 (-1: none), prev_y[b] float64 (NaN: none).
Parameters: sign[b] int8, delta[b] float64, window_ms[b] int64, level[b] int8,
on_ms[b], off_ms[b] int64, despike[b] int8. Batch and outputs as in
rules.kernels.threshold (out_limit = delta), plus out_base[m] float64: at a raise,
the window's reference value (the highest before a fall, the lowest before a rise), the
alarm's evidence baseline; NaN otherwise.
Reference: rules.reference.rate.step.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
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
    for i in range(bind.shape[0]):
        out_level[i] = -1
        out_limit[i] = np.nan
        out_base[i] = np.nan
        x = value[i]
        if good[i] == 0 or np.isnan(x):
            continue
        b = bind[i]
        t = ts[i]
        y = -sign[b] * x
        r = y
        if despike[b] != 0 and not np.isnan(prev_y[b]):
            r = min(y, prev_y[b])
        prev_y[b] = y
        # expire from the head: older than the window
        while count[b] > 0 and buf_ts[b, head[b]] < t - window_ms[b]:
            head[b] = (head[b] + 1) % cap
            count[b] -= 1
        # keep the deque decreasing: drop tail entries not above the new value
        while count[b] > 0 and buf_y[b, (head[b] + count[b] - 1) % cap] <= r:
            count[b] -= 1
        if count[b] == cap:
            head[b] = (head[b] + 1) % cap
            count[b] -= 1
        pos = (head[b] + count[b]) % cap
        buf_ts[b, pos] = t
        buf_y[b, pos] = r
        count[b] += 1
        cond = buf_y[b, head[b]] - y >= delta[b]
        new = active[b]
        if cond:
            clear_since[b] = -1
            if cond_since[b] < 0:
                cond_since[b] = t
            if t - cond_since[b] >= on_ms[b]:
                new = level[b]
        else:
            cond_since[b] = -1
        if not cond and active[b] > 0:
            if clear_since[b] < 0:
                clear_since[b] = t
            if t - clear_since[b] >= off_ms[b]:
                new = 0
                clear_since[b] = -1
        if new != active[b]:
            active[b] = new
            out_level[i] = new
            out_limit[i] = delta[b]
            if new > 0:  # the window's reference (its highest y), in the value's units
                out_base[i] = -sign[b] * buf_y[b, head[b]]
            n_changed += 1
    return n_changed
