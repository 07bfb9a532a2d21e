"""Flatline (stuck sensor): every value of an unbroken run within epsilon for a duration.

Maths. A run starts at a good sample; it continues while
max(run) - min(run) <= eps (running min and max, O(1)); a sample that widens
it beyond eps starts a new run at that sample and clears an active alarm. The
alarm is raised when t - run_start >= dur_ms. Values at or below `floor`
(range_lo + eps when the rule excepts the floor: a dry manhole, no rain) end
the run and clear, since sitting at the floor is normal. NaN or bad quality
skips the sample (a gap neither breaks nor extends the run).

State (per binding b): run_lo[b], run_hi[b] float64, run_start[b] int64
(-1: no run), active[b] int8. Parameters: eps[b], floor[b] float64 (-inf: no
floor), dur_ms[b] int64, level[b] int8. Batch and outputs as in
rules.kernels.threshold (out_limit = eps). Reference: rules.reference.flatline.step.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def step(
    eps: np.ndarray,
    floor: np.ndarray,
    dur_ms: np.ndarray,
    level: np.ndarray,
    run_lo: np.ndarray,
    run_hi: np.ndarray,
    run_start: np.ndarray,
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
        if x <= floor[b]:
            run_start[b] = -1
            new = 0
        elif run_start[b] < 0 or max(run_hi[b], x) - min(run_lo[b], x) > eps[b]:
            run_start[b] = t
            run_lo[b] = x
            run_hi[b] = x
            new = 0
        else:
            run_lo[b] = min(run_lo[b], x)
            run_hi[b] = max(run_hi[b], x)
            if t - run_start[b] >= dur_ms[b]:
                new = level[b]
        if new != active[b]:
            active[b] = new
            out_level[i] = new
            out_limit[i] = eps[b]
            n_changed += 1
    return n_changed
