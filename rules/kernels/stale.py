"""Stale: no good reading for `after_ms`. Needs time to pass without samples, hence `tick`.

Maths. last_good[b] is the ts of the latest good, finite sample (-1 before
the first sample or tick, which starts the clock: a point never heard of is
stale `after_ms` after the engine started). A good sample clears. Any other
sample, and a tick at `now`, raise when now - last_good >= after_ms. O(1)
per sample; a tick is O(bindings).

State (per binding b): last_good[b] int64, active[b] int8.
Parameters: after_ms[b] int64, level[b] int8.
`step`: batch and outputs as in rules.kernels.threshold (out_limit = after
in seconds). `tick(after_ms, level, last_good, active, enabled, now,
out_level)`: `enabled[b]` int8 (the rule runs in the current mode);
out_level[b] as out_level above, per binding. Both return the number of changes.
Reference: rules.reference.stale.step / tick.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def step(
    after_ms: np.ndarray,
    level: np.ndarray,
    last_good: np.ndarray,
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
        b = bind[i]
        t = ts[i]
        new = active[b]
        if good[i] != 0 and not np.isnan(value[i]):
            last_good[b] = max(last_good[b], t)
            new = 0
        elif last_good[b] < 0:
            last_good[b] = t
        elif t - last_good[b] >= after_ms[b]:
            new = level[b]
        if new != active[b]:
            active[b] = new
            out_level[i] = new
            out_limit[i] = after_ms[b] / 1000.0
            n_changed += 1
    return n_changed


@njit(cache=True)
def tick(
    after_ms: np.ndarray,
    level: np.ndarray,
    last_good: np.ndarray,
    active: np.ndarray,
    enabled: np.ndarray,
    now: int,
    out_level: np.ndarray,
) -> int:
    n_changed = 0
    for b in range(after_ms.shape[0]):
        out_level[b] = -1
        if enabled[b] == 0:
            continue
        if last_good[b] < 0:
            last_good[b] = now
        elif active[b] == 0 and now - last_good[b] >= after_ms[b]:
            active[b] = level[b]
            out_level[b] = level[b]
            n_changed += 1
    return n_changed
