"""Plain-Python reference of rules.kernels.accumulation.step.

Different inside on purpose: the buckets are a dict {bucket number: sum}
rebuilt from the ring each time, and the window total is the sum of the
entries whose number lies in (k - NB, k], with k the newest bucket.
"""

from __future__ import annotations

import math

import numpy as np


def step(
    bucket_ms: np.ndarray,
    off_ms: np.ndarray,
    limit: np.ndarray,
    level: np.ndarray,
    sums: np.ndarray,
    last_k: np.ndarray,
    active: np.ndarray,
    clear_since: np.ndarray,
    bind: np.ndarray,
    ts: np.ndarray,
    value: np.ndarray,
    good: np.ndarray,
    out_level: np.ndarray,
    out_limit: np.ndarray,
) -> int:
    nb = sums.shape[1]
    n_changed = 0
    for i in range(len(bind)):
        out_level[i] = -1
        out_limit[i] = math.nan
        x = float(value[i])
        if not good[i] or math.isnan(x):
            continue
        b, t = int(bind[i]), int(ts[i])
        k = t // int(bucket_ms[b])
        newest = int(last_k[b])
        # the ring as {bucket number: sum}: slot s holds bucket newest - ((newest - s) % nb)
        buckets = {} if newest < 0 else {
            newest - ((newest - s) % nb): float(sums[b, s]) for s in range(nb)
        }  # fmt: skip
        newest = max(newest, k)
        if newest - k < nb:
            buckets[k] = buckets.get(k, 0.0) + x
        buckets = {j: v for j, v in buckets.items() if newest - nb < j <= newest}
        sums[b, :] = 0.0
        for j, v in buckets.items():
            sums[b, j % nb] = v
        last_k[b] = newest
        total = 0.0
        for s in range(nb):
            total += float(sums[b, s])
        new = int(active[b])
        if total >= limit[b]:
            clear_since[b] = -1
            new = int(level[b])
        elif active[b]:
            if clear_since[b] < 0:
                clear_since[b] = t
            if t - clear_since[b] >= off_ms[b]:
                new, clear_since[b] = 0, -1
        if new != active[b]:
            active[b] = out_level[i] = new
            out_limit[i] = limit[b]
            n_changed += 1
    return n_changed
