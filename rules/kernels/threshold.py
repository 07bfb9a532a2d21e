"""Multi-level threshold with hysteresis and on/off delays, over all bindings at once.

Maths. Levels l = 1..4 (1 most severe), direction d = +1 (above) or -1 (below),
limit L_l (NaN when the rule has no such level), hysteresis h >= 0. With the
active level a (0 = no alarm), level l's condition on a sample x is

    c_l = d*x >= d*L_l - (h if 0 < a <= l else 0)

so a level that is held (or beaten by a more severe one) is left only once x is
back past L_l by h. `since[l]` is the first ts of the current unbroken run of
c_l. The confirmed level e is the most severe l with c_l and
ts - since[l] >= on_delay[l]. Escalation (e more severe than a) happens at
once when confirmed; de-escalation or clearing waits until c_a has been false
for off_delay (`below_since`), then a becomes e (0 clears). NaN or bad quality
skips the sample and keeps every timer: a gap does not restart a delay.
Work per sample is O(4).

State layout (per binding b, caller-owned, NumPy):
    active[b] int8            0 or the active level
    since[b, 4] int64         start of c_l's current run, -1 when c_l is false
    below_since[b] int64      start of "c_a false", -1 when not pending a drop
Parameters: limits[b, 4] float64, direction[b] int8 (+1/-1), hyst[b] float64,
on_ms[b, 4] int64, off_ms[b] int64.
Batch in: bind[m] int64, ts[m] int64, value[m] float64, good[m] int8.
Out (caller-owned, length m): out_level[m] int8 = the new level where it
changed (0 = cleared), else -1; out_limit[m] float64 = the limit of the new
level (of the left level when cleared). Returns the number of changes.
Reference: rules.reference.threshold.step (same signature, plain Python).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
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
    for i in range(bind.shape[0]):
        out_level[i] = -1
        out_limit[i] = np.nan
        x = value[i]
        if good[i] == 0 or np.isnan(x):
            continue
        b = bind[i]
        t = ts[i]
        d = np.float64(direction[b])
        a = int(active[b])
        confirmed = 0
        cond_a = False
        for k in range(4):
            lim = limits[b, k]
            lvl = k + 1
            if np.isnan(lim):
                continue
            margin = hyst[b] if (a > 0 and a <= lvl) else 0.0
            if d * x >= d * lim - margin:
                if since[b, k] < 0:
                    since[b, k] = t
                if confirmed == 0 and t - since[b, k] >= on_ms[b, k]:
                    confirmed = lvl
                if lvl == a:
                    cond_a = True
            else:
                since[b, k] = -1
        new = a
        if confirmed > 0 and (a == 0 or confirmed < a):
            new = confirmed  # escalation: no off-delay involved
            below_since[b] = -1
        elif a > 0 and not cond_a:
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
