"""Accumulation: the sum of readings over a window (rainfall depth), against a limit.

Maths. Time is cut into buckets of width w = W / NB (NB = sums.shape[1]
slots per binding, a ring); bucket k = floor(t / w) holds the sum of the
readings that fell in it. The window total is the sum of buckets
k-NB+1 .. k, i.e. the last W to within one bucket width. A new bucket first
zeroes the slots of every bucket skipped since the last reading (at most NB),
so work per sample is O(NB) = O(1) and there is no running total to drift.
Raised when the total >= limit; cleared once below it for `off_ms`. NaN or
bad quality skips the sample (a gap simply adds nothing).

State (per binding b): sums[b, NB] float64, last_k[b] int64 (-1: none),
active[b] int8, clear_since[b] int64.
Parameters: bucket_ms[b], off_ms[b] int64, limit[b] float64, level[b] int8.
Batch and outputs as rules.kernels.threshold (out_limit = limit).
Reference: rules.reference.accumulation.step.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
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
    for i in range(bind.shape[0]):
        out_level[i] = -1
        out_limit[i] = np.nan
        x = value[i]
        if good[i] == 0 or np.isnan(x):
            continue
        b = bind[i]
        t = ts[i]
        k = t // bucket_ms[b]
        if last_k[b] < 0 or k - last_k[b] >= nb:
            for j in range(nb):
                sums[b, j] = 0.0
        elif k > last_k[b]:
            for j in range(last_k[b] + 1, k + 1):
                sums[b, j % nb] = 0.0
        if k >= last_k[b]:
            last_k[b] = k
            sums[b, k % nb] += x
        elif last_k[b] - k < nb:  # a late reading still inside the window
            sums[b, k % nb] += x
        total = 0.0
        for j in range(nb):
            total += sums[b, j]
        new = active[b]
        if total >= limit[b]:
            clear_since[b] = -1
            new = level[b]
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
            n_changed += 1
    return n_changed
