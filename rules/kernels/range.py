"""Out of the sensor's range: `count` consecutive readings outside [lo, hi].

Maths. lo = range_lo - margin*(range_hi - range_lo), hi likewise above. A
finite value outside counts up `n_out`; one inside resets it and clears. The
alarm is raised when n_out reaches `count`. Quality is ignored on purpose: a
decoder marks out-of-range readings bad, and those are what this rule is
for. NaN skips the sample. O(1).

State (per binding b): n_out[b] int64, active[b] int8. Parameters: lo[b],
hi[b] float64, count_n[b] int64, level[b] int8. Batch and outputs as in
rules.kernels.threshold (out_limit = the bound crossed; NaN when cleared).
Reference: rules.reference.range.step.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def step(
    lo: np.ndarray,
    hi: np.ndarray,
    count_n: np.ndarray,
    level: np.ndarray,
    n_out: np.ndarray,
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
        if np.isnan(x):
            continue
        b = bind[i]
        new = active[b]
        bound = np.nan
        if x < lo[b] or x > hi[b]:
            n_out[b] += 1
            bound = lo[b] if x < lo[b] else hi[b]
            if n_out[b] >= count_n[b]:
                new = level[b]
        else:
            n_out[b] = 0
            new = 0
        if new != active[b]:
            active[b] = new
            out_level[i] = new
            out_limit[i] = bound
            n_changed += 1
    return n_changed
