"""Spike (Hampel): a reading far from the recent median that comes back within a few samples.

Maths. The last k accepted good values form the reference window; with
med = median(window), mad = median(|window - med|), a reading is "out" when

    |x - med| > max(n_sigma * 1.4826 * mad, min_delta)

(1.4826 MAD estimates sigma for Gaussian noise). Out readings are held back
(up to `width`); when a reading is back in, the held ones were a spike: each
counts once, is dropped, and never enters the window. When more than `width`
readings in a row are out, it was a step, not a spike: the held readings enter
the window as the new normal. The alarm is raised when `count` spikes fall
within `per_ms`, and clears once no spike has come for `per_ms`. The medians
sort k <= 16 values in the caller's scratch row: O(k log k) = O(1) per sample.
NaN or bad quality skips the sample.

State (per binding b): win[b, K] float64 (ring of accepted values), n_win[b],
pos[b] int64, held[b, W] float64, n_held[b] int64, spike_ts[b, C] int64 (ring
of the latest spike times), n_spk[b], spk_pos[b] int64, active[b] int8.
Parameters: k[b], width[b], count_n[b], per_ms[b] int64, n_sigma[b],
min_delta[b] float64, level[b] int8. Scratch: scratch[K] float64.
Batch and outputs as rules.kernels.threshold (out_limit = the deviation
limit at the raise, NaN at the clear). Reference: rules.reference.spike.step.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _median(vals: np.ndarray, n: int, scratch: np.ndarray) -> float:
    for i in range(n):  # insertion sort into scratch
        v = vals[i]
        j = i
        while j > 0 and scratch[j - 1] > v:
            scratch[j] = scratch[j - 1]
            j -= 1
        scratch[j] = v
    h = n // 2
    if n % 2 == 1:
        return float(scratch[h])
    return float(0.5 * (scratch[h - 1] + scratch[h]))


@njit(cache=True)
def _limit(
    row: np.ndarray, kb: int, med: float, n_sigma: float, min_delta: float,
    dev: np.ndarray, scratch: np.ndarray,
) -> float:  # fmt: skip
    for j in range(kb):
        dev[j] = abs(row[j] - med)
    return max(n_sigma * 1.4826 * _median(dev, kb, scratch), min_delta)


@njit(cache=True)
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
    dev = np.empty(win.shape[1])
    n_changed = 0
    for i in range(bind.shape[0]):
        out_level[i] = -1
        out_limit[i] = np.nan
        x = value[i]
        if good[i] == 0 or np.isnan(x):
            continue
        b = bind[i]
        t = ts[i]
        kb = k[b]
        new = active[b]
        lim = np.nan
        is_out = False
        med = np.nan
        if n_win[b] >= kb:
            med = _median(win[b], kb, scratch)
            # the MAD only matters beyond min_delta: most readings stop here
            if abs(x - med) > min_delta[b]:
                lim = _limit(win[b], kb, med, n_sigma[b], min_delta[b], dev, scratch)
                is_out = abs(x - med) > lim
        if is_out:
            if n_held[b] < width[b]:
                held[b, n_held[b]] = x
                n_held[b] += 1
                continue  # undecided: neither a spike nor normal yet
            is_out = False  # width exceeded: a step; the held values are the new normal
            for j in range(n_held[b]):
                win[b, pos[b]] = held[b, j]
                pos[b] = (pos[b] + 1) % kb
                n_win[b] = min(n_win[b] + 1, kb)
            n_held[b] = 0
        elif n_held[b] > 0:  # back in: the held readings were a spike
            n_held[b] = 0
            spike_ts[b, spk_pos[b]] = t
            spk_pos[b] = (spk_pos[b] + 1) % cap_c
            n_spk[b] = min(n_spk[b] + 1, cap_c)
            if n_spk[b] >= count_n[b]:
                oldest = spike_ts[b, (spk_pos[b] - count_n[b] + cap_c) % cap_c]
                if t - oldest <= per_ms[b]:
                    new = level[b]
                    if np.isnan(lim):
                        lim = _limit(win[b], kb, med, n_sigma[b], min_delta[b], dev, scratch)
        win[b, pos[b]] = x
        pos[b] = (pos[b] + 1) % kb
        n_win[b] = min(n_win[b] + 1, kb)
        if new == active[b] and active[b] > 0 and n_spk[b] > 0:
            last = spike_ts[b, (spk_pos[b] - 1 + cap_c) % cap_c]
            if t - last > per_ms[b]:
                new = 0
        if new != active[b]:
            active[b] = new
            out_level[i] = new
            out_limit[i] = lim if new > 0 else np.nan
            n_changed += 1
    return n_changed
