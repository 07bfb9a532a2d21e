"""Plain-Python reference of rules.kernels.spike.step: statistics.median on lists."""

from __future__ import annotations

import math
import statistics

import numpy as np


def step(
    k: np.ndarray,
    width: np.ndarray,
    count_n: np.ndarray,
    per_ms: np.ndarray,
    n_sigma: np.ndarray,
    min_delta: np.ndarray,
    level: np.ndarray,
    win: np.ndarray,
    n_win: np.ndarray,
    pos: np.ndarray,
    held: np.ndarray,
    n_held: np.ndarray,
    spike_ts: np.ndarray,
    n_spk: np.ndarray,
    spk_pos: np.ndarray,
    active: np.ndarray,
    scratch: np.ndarray,
    bind: np.ndarray,
    ts: np.ndarray,
    value: np.ndarray,
    good: np.ndarray,
    out_level: np.ndarray,
    out_limit: np.ndarray,
) -> int:
    cap_c = spike_ts.shape[1]
    n_changed = 0

    def accept(b: int, x: float) -> None:
        kb = int(k[b])
        win[b, pos[b]] = x
        pos[b] = (pos[b] + 1) % kb
        n_win[b] = min(int(n_win[b]) + 1, kb)

    for i in range(len(bind)):
        out_level[i] = -1
        out_limit[i] = math.nan
        x = float(value[i])
        if not good[i] or math.isnan(x):
            continue
        b, t = int(bind[i]), int(ts[i])
        kb = int(k[b])
        new, lim, out = int(active[b]), math.nan, False
        if n_win[b] >= kb:
            window = [float(v) for v in win[b, :kb]]
            med = statistics.median(window)
            mad = statistics.median([abs(v - med) for v in window])
            lim = max(float(n_sigma[b]) * 1.4826 * mad, float(min_delta[b]))
            out = abs(x - med) > lim
        if out and n_held[b] < width[b]:
            held[b, n_held[b]] = x
            n_held[b] += 1
            continue
        if out:  # a step: the held readings become normal
            for j in range(int(n_held[b])):
                accept(b, float(held[b, j]))
            n_held[b] = 0
        elif n_held[b]:
            n_held[b] = 0
            spike_ts[b, spk_pos[b]] = t
            spk_pos[b] = (spk_pos[b] + 1) % cap_c
            n_spk[b] = min(int(n_spk[b]) + 1, cap_c)
            recent = [int(spike_ts[b, (spk_pos[b] - j - 1) % cap_c]) for j in range(int(n_spk[b]))]
            if len(recent) >= count_n[b] and t - recent[int(count_n[b]) - 1] <= per_ms[b]:
                new = int(level[b])
        accept(b, x)
        quiet = n_spk[b] and t - int(spike_ts[b, (spk_pos[b] - 1) % cap_c]) > per_ms[b]
        if new == active[b] and active[b] and quiet:
            new = 0
        if new != active[b]:
            active[b] = new
            out_level[i] = new
            out_limit[i] = lim if new else math.nan
            n_changed += 1
    return n_changed
