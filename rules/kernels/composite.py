"""Composite: couple other rules' alarms within a time window and a scope.

Maths. A composite binding is one (composite rule, scope value) pair, e.g.
(water.burst, zone=east). Its slots are the member (rule, point) bindings in
that scope; slot_rule[b, s] is the member rule's index in `of` (-1: unused).
A slot counts at time t when its member alarm is active at the required
level, or was raised within the window: slot_active[b, s] or
t - slot_last[b, s] <= window_ms. The count is of distinct member rules
(by_points = 0) or of slots (by_points = 1); the composite is active while
count >= need, so it clears as soon as its members clear and their windows
pass (`tick` expires windows while no events come). Work per event is
O(slots^2) for distinct rules; slots are few (the members in one scope).

State (per binding b): slot_last[b, S] int64 (-1: never), slot_active[b, S]
int8, active[b] int8. Parameters: slot_rule[b, S] int64, need[b] int64,
by_points[b] int8, window_ms[b] int64, level[b] int8.
`step` events in: ev_bind[m], ev_slot[m], ev_ts[m] int64, ev_up[m] int8 (1: the
member is raised or at a qualifying level, 0: cleared or below it); out_level[m]
int8 (-1, 0, level). `tick(..., enabled[b] int8, now, out_level[b])`.
Reference: rules.reference.composite.step / tick.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _count(
    slot_rule: np.ndarray,
    by_points: np.ndarray,
    window_ms: np.ndarray,
    slot_last: np.ndarray,
    slot_active: np.ndarray,
    b: int,
    t: int,
) -> int:
    n = 0
    n_slots = slot_rule.shape[1]
    for s in range(n_slots):
        r = slot_rule[b, s]
        if r < 0:
            continue
        ok = slot_active[b, s] != 0 or (
            slot_last[b, s] >= 0 and t - slot_last[b, s] <= window_ms[b]
        )
        if not ok:
            continue
        if by_points[b] != 0:
            n += 1
            continue
        seen = False  # count each member rule once
        for s2 in range(s):
            if slot_rule[b, s2] != r:
                continue
            if slot_active[b, s2] != 0 or (
                slot_last[b, s2] >= 0 and t - slot_last[b, s2] <= window_ms[b]
            ):
                seen = True
                break
        if not seen:
            n += 1
    return n


@njit(cache=True)
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
    n_changed = 0
    for i in range(ev_bind.shape[0]):
        out_level[i] = -1
        b = ev_bind[i]
        s = ev_slot[i]
        t = ev_ts[i]
        if ev_up[i] != 0:
            if slot_active[b, s] == 0:
                slot_last[b, s] = t
            slot_active[b, s] = 1
        else:
            slot_active[b, s] = 0
        c = _count(slot_rule, by_points, window_ms, slot_last, slot_active, b, t)
        new = level[b] if c >= need[b] else 0
        if new != active[b]:
            active[b] = new
            out_level[i] = new
            n_changed += 1
    return n_changed


@njit(cache=True)
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
    n_changed = 0
    for b in range(active.shape[0]):
        out_level[b] = -1
        if enabled[b] == 0 or active[b] == 0:
            continue
        if _count(slot_rule, by_points, window_ms, slot_last, slot_active, b, now) < need[b]:
            active[b] = 0
            out_level[b] = 0
            n_changed += 1
    return n_changed
