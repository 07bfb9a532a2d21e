"""Peer residual: a reading minus the median of its peers' latest readings.

Maths. Each binding b sits on point p = bind_point[b] and has peers (other
points of the same quantity and scope) in CSR rows peer_ptr[b]:peer_ptr[b+1]
of peer_idx. Walking the batch in time order, a good reading updates
last_val[p], last_ts[p]; then

    resid = x - median{ last_val[q] : q peer of b, t - last_ts[q] <= max_age_ms[b] }

(NaN when no peer is fresh, or the reading itself is NaN or bad). A binding
has at most `max_peers` peers (the next points of its rule, in order), so the
sort stays small on a gateway with hundreds of points. Network-wide
moves (pumps, demand) shift all points together and cancel; a sensor drifting
on its own does not. Points are polled at different moments, so a network-wide
step shows in one reading's residual before the peers have caught up: the
output is median(previous residual, residual, 0), which passes a residual that
persists and stops a one-reading glitch. A peer whose own drift alarm is
active (point_alarm[q] != 0, kept by the caller) is left out of the median,
so a drifting sensor does not drag its neighbours' residuals along. Work per
sample is O(peers log peers), peers being few.
The residual feeds rules.kernels.drift (the caller chains them).

State: last_val[n_points] float64 (NaN: none), last_ts[n_points] int64,
prev_resid[b] float64 (NaN: none).
Parameters: bind_point[b], peer_ptr[b + 1], peer_idx[...], max_age_ms[b] int64,
point_alarm[n_points] int8.
Scratch: scratch[max peers] float64. Out: resid[m] float64.
Reference: rules.reference.peers.residual.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def residual(
    bind_point: np.ndarray,
    peer_ptr: np.ndarray,
    peer_idx: np.ndarray,
    max_age_ms: np.ndarray,
    point_alarm: np.ndarray,
    last_val: np.ndarray,
    last_ts: np.ndarray,
    prev_resid: np.ndarray,
    scratch: np.ndarray,
    bind: np.ndarray,
    ts: np.ndarray,
    value: np.ndarray,
    good: np.ndarray,
    resid: np.ndarray,
) -> int:
    n_out = 0
    for i in range(bind.shape[0]):
        resid[i] = np.nan
        x = value[i]
        if good[i] == 0 or np.isnan(x):
            continue
        b = bind[i]
        t = ts[i]
        p = bind_point[b]
        if t >= last_ts[p]:
            last_val[p] = x
            last_ts[p] = t
        n = 0
        for j in range(peer_ptr[b], peer_ptr[b + 1]):
            q = peer_idx[j]
            v = last_val[q]
            if np.isnan(v) or t - last_ts[q] > max_age_ms[b] or point_alarm[q] != 0:
                continue
            k = n  # insertion sort into scratch
            while k > 0 and scratch[k - 1] > v:
                scratch[k] = scratch[k - 1]
                k -= 1
            scratch[k] = v
            n += 1
        if n == 0:
            continue
        h = n // 2
        med = scratch[h] if n % 2 == 1 else 0.5 * (scratch[h - 1] + scratch[h])
        r = x - med
        q = prev_resid[b]
        prev_resid[b] = r
        if not np.isnan(q):  # median(q, r, 0): a one-reading glitch never gets through
            if r > 0.0 and q > 0.0:
                r = min(r, q)
            elif r < 0.0 and q < 0.0:
                r = max(r, q)
            else:
                r = 0.0
        resid[i] = r
        n_out += 1
    return n_out
