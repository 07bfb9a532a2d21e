"""Plain-Python reference of rules.kernels.composite.step and tick, with sets."""

from __future__ import annotations

import numpy as np


def _count(
    slot_rule: np.ndarray,
    by_points: np.ndarray,
    window_ms: np.ndarray,
    slot_last: np.ndarray,
    slot_active: np.ndarray,
    b: int,
    t: int,
) -> int:
    live = [
        s
        for s in range(slot_rule.shape[1])
        if slot_rule[b, s] >= 0
        and (slot_active[b, s] or (slot_last[b, s] >= 0 and t - slot_last[b, s] <= window_ms[b]))
    ]
    return len(live) if by_points[b] else len({int(slot_rule[b, s]) for s in live})


def step(
    slot_rule: np.ndarray,
    need: np.ndarray,
    by_points: np.ndarray,
    window_ms: np.ndarray,
    level: np.ndarray,
    slot_last: np.ndarray,
    slot_active: np.ndarray,
    active: np.ndarray,
    ev_bind: np.ndarray,
    ev_slot: np.ndarray,
    ev_ts: np.ndarray,
    ev_up: np.ndarray,
    out_level: np.ndarray,
) -> int:
    out_level[:] = -1
    n_changed = 0
    for i in range(len(ev_bind)):
        b, s, t = int(ev_bind[i]), int(ev_slot[i]), int(ev_ts[i])
        if ev_up[i] and not slot_active[b, s]:
            slot_last[b, s] = t  # a fresh raise (a level change of an active member is not)
        slot_active[b, s] = 1 if ev_up[i] else 0
        c = _count(slot_rule, by_points, window_ms, slot_last, slot_active, b, t)
        new = int(level[b]) if c >= need[b] else 0
        if new != active[b]:
            active[b] = out_level[i] = new
            n_changed += 1
    return n_changed


def tick(
    slot_rule: np.ndarray,
    need: np.ndarray,
    by_points: np.ndarray,
    window_ms: np.ndarray,
    level: np.ndarray,
    slot_last: np.ndarray,
    slot_active: np.ndarray,
    active: np.ndarray,
    enabled: np.ndarray,
    now: int,
    out_level: np.ndarray,
) -> int:
    out_level[:] = -1
    n_changed = 0
    for b in range(len(active)):
        if not (enabled[b] and active[b]):
            continue
        if _count(slot_rule, by_points, window_ms, slot_last, slot_active, b, int(now)) < need[b]:
            active[b] = out_level[b] = 0
            n_changed += 1
    return n_changed
