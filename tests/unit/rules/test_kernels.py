"""Every sample kernel against its plain-Python reference, through the engine's own tables.

Two tables are built from the same random rules; one runs the numba kernel,
the other the reference (swapped in as `step`/`tick_fn`). They must agree on
every output and on the state both keep the same way.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.compile import Binding
from rules.events import PointMeta
from rules.pairs import PAIRS
from rules.spec import RULE_KINDS
from rules.tables import SAMPLE_TABLES, KindTable

from .streams import sample_batch

POINTS = [
    PointMeta("d1", "p", "q", "u", 0.0, 1.0, {"ref": "0.5"}),
    PointMeta("d2", "p", "q", "u", -1.0, 1.0, {"ref": "-0.25"}),
    PointMeta("d3", "p", "q", "u", float("-inf"), float("inf"), {"ref": "1"}),
]
secs = st.sampled_from([0.0, 0.5, 2.0, 30.0, 600.0])
pos_secs = st.sampled_from([0.5, 2.0, 30.0, 600.0, 3600.0])
lvl = st.integers(1, 4)
lim = st.floats(-1.5, 1.5, allow_nan=False).map(lambda x: round(x, 3))

RULES: dict[str, Any] = {
    "rate": st.fixed_dictionaries({
        "direction": st.sampled_from(["falling", "rising"]),
        "delta": st.sampled_from([0.001, 0.1, 0.5, 2.0]),
        "window_s": pos_secs, "level": lvl, "off_delay_s": secs, "on_delay_s": secs,
        "despike": st.booleans(),
    }),
    "trend": st.fixed_dictionaries({
        "direction": st.sampled_from(["above", "below"]), "limit": lim,
        "window_s": pos_secs, "horizon_s": pos_secs, "level": lvl,
        "min_samples": st.integers(3, 6), "off_delay_s": secs, "on_delay_s": secs,
        "despike": st.booleans(),
        "min_slope_per_h": st.sampled_from([1.0, 36.0]),
        "relative_to": st.sampled_from([None, "ref"]),
    }),
    "flatline": st.fixed_dictionaries({
        "epsilon": st.sampled_from([0.0, 0.01, 0.5]), "duration_s": pos_secs, "level": lvl,
        "except_floor": st.booleans(),
    }),
    "range": st.fixed_dictionaries({
        "margin": st.sampled_from([0.0, 0.01, 0.2]), "count": st.integers(1, 4), "level": lvl,
    }),
    "stale": st.fixed_dictionaries({"after_s": pos_secs, "level": lvl}),
    "accumulation": st.fixed_dictionaries({
        "window_s": st.sampled_from([0.5, 64.0, 600.0, 3600.0]), "limit": lim, "level": lvl,
        "off_delay_s": secs,
    }),
    "night_flow": st.fixed_dictionaries({
        "night_start_h": st.sampled_from([0.0, 2.0, 23.0]),
        "night_end_h": st.sampled_from([1.0, 4.0]),
        "utc_offset_h": st.sampled_from([-5.0, 0.0, 8.0]),
        "smooth_s": st.sampled_from([1.0, 30.0, 900.0]),
        "rise_fraction": st.sampled_from([0.0, 0.15]), "rise_abs": st.sampled_from([0.0, 0.1]),
        "min_nights": st.integers(1, 2), "history": st.integers(2, 4), "nights": st.integers(1, 2),
        "level": lvl,
    }),
    "spike": st.fixed_dictionaries({
        "window": st.integers(3, 8), "n_sigma": st.sampled_from([0.5, 3.0, 6.0]),
        "min_delta": st.sampled_from([0.0, 0.01, 0.5]), "width": st.integers(1, 3),
        "count": st.integers(1, 4), "per_s": pos_secs, "level": lvl,
    }),
    "drift": st.fixed_dictionaries({
        "k_sigma": st.sampled_from([0.0, 0.5, 1.0]), "h_sigma": st.sampled_from([0.5, 2.0, 5.0]),
        "tau_s": pos_secs, "warmup": st.integers(2, 8), "sigma_min": st.sampled_from([1e-3, 0.1]),
        "hold_s": secs, "level": lvl,
    }),
    "baseline": st.fixed_dictionaries({
        "direction": st.sampled_from(["above", "below"]),
        "n_sigma": st.sampled_from([0.5, 3.0]), "min_delta": st.sampled_from([0.0, 0.1]),
        "min_fraction": st.sampled_from([0.0, 0.05]),
        "sigma_min": st.sampled_from([1e-3, 0.05]), "slot_s": st.sampled_from([60.0, 900.0]),
        "weekends": st.booleans(), "utc_offset_h": st.sampled_from([-5.0, 0.0, 8.0]),
        "learn_days": st.integers(1, 3), "min_days": st.integers(1, 2),
        "cold_limit": st.sampled_from([None, 0.5, -0.5]),
        "against": st.sampled_from(["self", "peers"]), "on_delay_s": secs,
        "off_delay_s": secs, "level": lvl,
    }),
}  # fmt: skip
# State both implementations keep identically (rings differ on purpose: see the references).
SHARED_STATE = {
    "rate": ["active", "clear_since", "cond_since", "prev_y"],
    "trend": ["active", "clear_since", "cond_since", "count", "prev_x"],
    "flatline": ["active", "run_start", "run_lo", "run_hi"],
    "range": ["active", "n_out"],
    "stale": ["active", "last_good"],
    "accumulation": ["active", "sums", "last_k", "clear_since"],
    "night_flow": [
        "active",
        "ew",
        "ew_t",
        "ew_start",
        "night",
        "night_min",
        "ring",
        "ring_pos",
        "ring_n",
        "streak",
    ],
    "spike": ["active", "win", "n_win", "pos", "held", "n_held", "spike_ts", "n_spk", "spk_pos"],
    "drift": ["active", "n_seen", "mean", "var", "s_hi", "s_lo", "last_cross"],
    "baseline": [
        "active",
        "mean",
        "mad",
        "n_seen",
        "days",
        "last_day",
        "cond_since",
        "clear_since",
    ],
}


# Per-run outputs both implementations fill for the alarm evidence.
EVIDENCE = {
    "rate": ["base"], "trend": ["fit", "slope"], "night_flow": ["values", "base"],
    "baseline": ["base", "cold"],
}  # fmt: skip


def tables(kind: str, params: list[dict[str, Any]]) -> tuple[KindTable, KindTable]:
    bindings = [
        Binding(
            RULE_KINDS[kind].model_validate({"id": f"r{i}", "kind": kind, "points": ["*"], **p}), i
        )
        for i, p in enumerate(params)
    ]
    fast = SAMPLE_TABLES[kind](bindings, POINTS)
    slow = copy.deepcopy(fast)
    slow.step = PAIRS[f"{kind}.step"][1]  # type: ignore[misc]
    if f"{kind}.tick" in PAIRS:
        slow.tick_fn = PAIRS[f"{kind}.tick"][1]  # type: ignore[attr-defined]
    return fast, slow


def same(a: np.ndarray | None, b: np.ndarray | None) -> None:
    if a is None or b is None:
        assert a is b
        return
    np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9, equal_nan=True)


@pytest.mark.parametrize("kind", sorted(RULES))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_kernel_matches_reference(kind: str, data: st.DataObject) -> None:
    params = [data.draw(RULES[kind]) for _ in POINTS]
    fast, slow = tables(kind, params)
    t0 = 1_700_000_000_000
    for _ in range(data.draw(st.integers(1, 3))):  # several batches: state carries over
        batch = data.draw(sample_batch(len(POINTS), t0=t0))
        a, b = fast.run(*batch), slow.run(*batch)
        np.testing.assert_array_equal(a[0], b[0])
        same(a[1], b[1])
        same(a[2], b[2])
        for name in EVIDENCE.get(kind, ()):  # the evidence outputs of the last run
            same(getattr(fast, name), getattr(slow, name))
        if len(batch[1]):
            now = int(batch[1][-1]) + data.draw(st.sampled_from([0, 1000, 700_000]))
            enabled = np.array(
                data.draw(st.lists(st.sampled_from([0, 1]), min_size=3, max_size=3)), np.int8
            )
            ta, tb = fast.tick(now, enabled), slow.tick(now, enabled)
            same(ta, tb)
            t0 = now
        for name in SHARED_STATE[kind]:
            same(getattr(fast, name), getattr(slow, name))
