"""Plain-Python reference of rules.kernels.peers.residual, with statistics.median."""

from __future__ import annotations

import math
import statistics

import numpy as np


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
    for i in range(len(bind)):
        resid[i] = math.nan
        x = float(value[i])
        if not good[i] or math.isnan(x):
            continue
        b, t = int(bind[i]), int(ts[i])
        p = int(bind_point[b])
        if t >= last_ts[p]:
            last_val[p], last_ts[p] = x, t
        peers = [int(q) for q in peer_idx[peer_ptr[b] : peer_ptr[b + 1]]]
        fresh = [
            float(last_val[q])
            for q in peers
            if not math.isnan(last_val[q])
            and t - last_ts[q] <= max_age_ms[b]
            and not point_alarm[q]
        ]
        if fresh:
            r = x - statistics.median(fresh)
            q = float(prev_resid[b])
            prev_resid[b] = r
            resid[i] = r if math.isnan(q) else statistics.median([q, r, 0.0])
            n_out += 1
    return n_out
