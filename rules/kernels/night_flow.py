"""Night flow: the minimum night flow (MNF) of a DMA inlet against its recent nights (slow leaks).

Maths. The reading is smoothed by an EWMA with irregular dt, time constant tau = smooth_s / 2
(the mean age of a smooth_s moving average): e += (1 - exp(-dt / tau)) (x - e); a gap longer
than smooth_s restarts it at x. Local time is ts + utc_offset; night d is
floor((local - night_start) / day) and a sample lies in the night window when
(local - night_start) mod day < (night_end - night_start) mod day. Tonight's MNF is the
minimum of the smoothed value over the window's samples, counted once the EWMA has run for
smooth_s. The night is closed by the first good sample after its window: with at least
`min_nights` earlier MNFs in the ring, the baseline is their median and the threshold
thr = max(median (1 + rise_fraction), median + rise_abs); MNF >= thr extends the streak of
exceeding nights, anything else ends it. `nights` in a row raise `level`; a night that does
not exceed clears. Then the MNF enters the ring of the last `history` nights, unless it
exceeded: a night of a lasting leak is never learned, so the leak stays alarmed until the
night flow returns (it never becomes the baseline). A night
without a warm smoothed sample in its window is no information: ring and streak stay.
O(history) = O(1) work per sample. NaN, bad quality and late (out of order) readings skip.

State (per binding b): ew[b] float64, ew_t[b], ew_start[b], night[b] int64 (-1: none),
night_min[b] float64, ring[b, H] float64, ring_pos[b], ring_n[b], streak[b] int64, active[b].
Parameters: start_ms[b], len_ms[b], off_ms[b], smooth_ms[b], min_n[b], hist[b], need[b]
int64; frac[b], rabs[b] float64; level[b] int8. scratch[H] float64 (work space).
Outputs as rules.kernels.threshold, plus out_value (the MNF that decided) and out_base
(the median of the past nights it was compared with); NaN otherwise.
Reference: rules.reference.night_flow.step.
"""

from __future__ import annotations

import numpy as np
from numba import njit

DAY_MS = 86_400_000


@njit(cache=True)
def step(
    start_ms: np.ndarray,
    len_ms: np.ndarray,
    off_ms: np.ndarray,
    smooth_ms: np.ndarray,
    frac: np.ndarray,
    rabs: np.ndarray,
    min_n: np.ndarray,
    hist: np.ndarray,
    need: np.ndarray,
    level: np.ndarray,
    ew: np.ndarray,
    ew_t: np.ndarray,
    ew_start: np.ndarray,
    night: np.ndarray,
    night_min: np.ndarray,
    ring: np.ndarray,
    ring_pos: np.ndarray,
    ring_n: np.ndarray,
    streak: np.ndarray,
    active: np.ndarray,
    scratch: np.ndarray,
    bind: np.ndarray,
    ts: np.ndarray,
    value: np.ndarray,
    good: np.ndarray,
    out_level: np.ndarray,
    out_limit: np.ndarray,
    out_value: np.ndarray,
    out_base: np.ndarray,
) -> int:
    n_changed = 0
    for i in range(bind.shape[0]):
        out_level[i] = -1
        out_limit[i] = np.nan
        out_value[i] = np.nan
        out_base[i] = np.nan
        x = value[i]
        if good[i] == 0 or np.isnan(x):
            continue
        b = bind[i]
        t = ts[i]
        if ew_start[b] >= 0 and t < ew_t[b]:
            continue
        loc = t + off_ms[b] - start_ms[b]
        d = loc // DAY_MS
        inwin = loc - d * DAY_MS < len_ms[b]
        if night[b] >= 0 and (d > night[b] or not inwin):
            mnf = night_min[b]
            night[b] = -1
            n = ring_n[b]
            if n >= min_n[b]:
                for j in range(n):
                    v = ring[b, j]
                    k = j
                    while k > 0 and scratch[k - 1] > v:
                        scratch[k] = scratch[k - 1]
                        k -= 1
                    scratch[k] = v
                med = (
                    scratch[n // 2] if n % 2 == 1 else 0.5 * (scratch[n // 2 - 1] + scratch[n // 2])
                )
                thr = max(med * (1.0 + frac[b]), med + rabs[b])
                if mnf >= thr:
                    streak[b] += 1
                else:
                    streak[b] = 0
                new = active[b]
                if streak[b] >= need[b]:
                    new = level[b]
                elif streak[b] == 0:
                    new = 0
                if new != active[b]:
                    active[b] = new
                    out_level[i] = new
                    out_limit[i] = thr
                    out_value[i] = mnf
                    out_base[i] = med
                    n_changed += 1
            if streak[b] == 0:  # a night that exceeded is never learned: a leak stays a leak
                ring[b, ring_pos[b]] = mnf
                ring_pos[b] = (ring_pos[b] + 1) % hist[b]
                ring_n[b] = min(n + 1, hist[b])
        if ew_start[b] < 0 or t - ew_t[b] > smooth_ms[b]:
            ew[b] = x
            ew_start[b] = t
        else:
            a = 1.0 - np.exp(-(t - ew_t[b]) / (0.5 * smooth_ms[b]))
            ew[b] += a * (x - ew[b])
        ew_t[b] = t
        if inwin and t - ew_start[b] >= smooth_ms[b]:
            if night[b] != d:
                night[b] = d
                night_min[b] = ew[b]
            elif ew[b] < night_min[b]:
                night_min[b] = ew[b]
    return n_changed
