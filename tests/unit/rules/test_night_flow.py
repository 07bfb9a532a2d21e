"""night_flow (minimum night flow): kernel against reference over many nights, and behaviour
on a synthetic DMA inlet (diurnal demand, noise, a slow leak)."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.compile import Binding
from rules.engine import Engine
from rules.events import AlarmState, PointMeta
from rules.pairs import PAIRS
from rules.spec import NightFlowRule, load_rules
from rules.tables.process import NightFlowTable

H = 3_600_000
T0 = 1_700_000_000_000 - (1_700_000_000_000 % (24 * H)) - 8 * H  # local (UTC+8) midnight
POINT = PointMeta("dma1", "inlet", "flow", "m3/h", 0.0, 2000.0, {})


def table(**params: Any) -> NightFlowTable:
    rule = NightFlowRule.model_validate(
        {"id": "mnf", "kind": "night_flow", "quantity": "flow", **params}
    )
    return NightFlowTable([Binding(rule, 0), Binding(rule, 1)], [POINT, POINT])


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_kernel_matches_reference_over_nights(data: st.DataObject) -> None:
    params = {
        "night_start_h": data.draw(st.sampled_from([2.0, 22.0])),
        "night_end_h": data.draw(st.sampled_from([4.0, 5.5])),
        "smooth_s": data.draw(st.sampled_from([60.0, 900.0, 3600.0])),
        "rise_fraction": data.draw(st.sampled_from([0.0, 0.15])),
        "rise_abs": data.draw(st.sampled_from([0.0, 2.0])),
        "min_nights": data.draw(st.integers(1, 3)),
        "history": data.draw(st.integers(3, 7)),
        "nights": data.draw(st.integers(1, 3)),
    }
    fast = table(**params)
    slow = copy.deepcopy(fast)
    slow.step = PAIRS["night_flow.step"][1]  # type: ignore[misc]
    m = data.draw(st.integers(1, 400))
    steps = data.draw(st.lists(
        st.sampled_from([0, 300_000, 900_000, 900_000, H, H, 3 * H, 20 * H]),
        min_size=m, max_size=m,
    ))  # fmt: skip
    ts = T0 + np.cumsum(np.array(steps, dtype=np.int64))
    bind = np.array(data.draw(st.lists(st.integers(0, 1), min_size=m, max_size=m)), np.int64)
    # a flow level per day (so nights differ by whole steps, near and far from the limits)
    # times a little noise, with NaNs
    per_day = np.array(data.draw(st.lists(
        st.sampled_from([10.0, 10.0, 11.0, 11.5, 12.0, 13.0, 20.0, 40.0]),
        min_size=64, max_size=64,
    )))  # fmt: skip
    noise = np.array(data.draw(st.lists(
        st.sampled_from([1.0, 1.0, 0.99, 1.02, math.nan]), min_size=m, max_size=m
    )))  # fmt: skip
    value = per_day[((ts - T0) // (24 * H)) % 64] * noise
    good = np.array(data.draw(st.lists(st.sampled_from([1, 1, 1, 0]), min_size=m, max_size=m)),
                    np.int8)  # fmt: skip
    cut = data.draw(st.integers(0, m))
    for sl in (slice(0, cut), slice(cut, m)):  # two batches: state carries over
        a = fast.run(bind[sl], ts[sl], value[sl], good[sl])
        b = slow.run(bind[sl], ts[sl], value[sl], good[sl])
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_allclose(a[1], b[1], rtol=1e-7, equal_nan=True)
        assert fast.values is not None
        assert slow.values is not None
        np.testing.assert_allclose(fast.values, slow.values, rtol=1e-7, equal_nan=True)
    for name in ("active", "night", "ring_pos", "ring_n", "streak", "ew_start", "ew_t"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name))
    for name in ("ew", "night_min", "ring"):
        np.testing.assert_allclose(getattr(fast, name), getattr(slow, name), rtol=1e-7,
                                   equal_nan=True)  # fmt: skip


def inlet(days: int, leak_from_night: int | None, spread: float, seed: int) -> tuple[
    np.ndarray, np.ndarray
]:  # fmt: skip
    """One reading a minute: diurnal demand (MNF ~120 m3/h), +-spread day to day, 3 % noise;
    a leak adds 80 m3/h from local midnight before night `leak_from_night` (1-based)."""
    rng = np.random.default_rng(seed)
    ts = T0 + np.arange(days * 1440, dtype=np.int64) * 60_000
    hour = ((ts - T0) % (24 * H)) / H
    day = (ts - T0) // (24 * H)
    scale = 1.0 + rng.uniform(-spread, spread, days)[day]
    demand = (
        400.0
        + 280.0 * np.sin((hour - 9.0) / 24.0 * 2 * np.pi)
        + 120.0 * np.cos((hour - 19.0) / 12.0 * 2 * np.pi)
    )
    flow = np.maximum(demand, 120.0) * scale * (1.0 + 0.03 * rng.standard_normal(ts.shape[0]))
    if leak_from_night is not None:
        flow = flow + np.where(day >= leak_from_night - 1, 80.0, 0.0)
    return ts, flow


def raised_nights(
    ts: np.ndarray, flow: np.ndarray, **params: Any
) -> list[tuple[int, float, float]]:
    t = table(rise_abs=2.0, **params)
    n = ts.shape[0]
    lvl, lim, _ = t.run(np.zeros(n, np.int64), ts, flow, np.ones(n, np.int8))
    assert t.values is not None
    return [
        (int((ts[i] - T0) // (24 * H)) + 1, float(t.values[i]), float(lim[i]))
        for i in np.flatnonzero(lvl > 0)
    ]


def test_leak_from_night_8_raises_on_night_8_or_9_and_never_before() -> None:
    for seed in range(5):
        ts, flow = inlet(10, leak_from_night=8, spread=0.10, seed=seed)
        raised = raised_nights(ts, flow)
        assert raised, f"seed {seed}: the leak was not raised"
        night, mnf, limit = raised[0]
        assert night in (8, 9), (seed, raised)
        assert mnf >= limit > 0


def test_one_night_rule_raises_on_night_8_with_the_mnf_as_value() -> None:
    ts, flow = inlet(10, leak_from_night=8, spread=0.10, seed=1)
    raised = raised_nights(ts, flow, nights=1, level=4)
    assert raised[0][0] == 8
    assert 180.0 < raised[0][1] < 240.0  # ~120 m3/h night flow + 80 m3/h leak
    assert raised[0][2] < raised[0][1]


def test_normal_nights_with_ten_percent_variation_raise_nothing() -> None:
    for seed in range(5):
        ts, flow = inlet(30, leak_from_night=None, spread=0.10, seed=seed)
        assert raised_nights(ts, flow, nights=1) == [], seed


def test_gaps_nan_and_bad_quality_are_skipped() -> None:
    ts, flow = inlet(10, leak_from_night=8, spread=0.05, seed=3)
    flow[::7] = np.nan
    keep = ~(((ts - T0) // (24 * H) == 4) & (((ts - T0) % (24 * H)) < 12 * H))  # night 5 lost
    ts, flow = ts[keep], flow[keep]
    raised = raised_nights(ts, flow)
    assert raised
    assert raised[0][0] in (8, 9)


def test_the_water_pack_raises_the_leak_with_the_mnf_as_the_alarm_value() -> None:
    ts, flow = inlet(10, leak_from_night=8, spread=0.10, seed=2)
    e = Engine(load_rules(["water"], Path(".")), [POINT])
    n = ts.shape[0]
    trs = e.process_batch(np.zeros(n, np.int64), ts, flow, np.ones(n, np.int8))
    mnf = [t for t in trs if t.rule.startswith("water.leak.mnf")]
    got = [(t.rule, t.level, int((t.ts_ms - T0) // (24 * H)) + 1) for t in mnf]
    assert got == [("water.leak.mnf-rise", 4, 8), ("water.leak.mnf", 3, 9)]
    for t in mnf:
        assert t.state is AlarmState.RAISED
        assert t.value >= t.limit  # the night's MNF against its threshold, not the last reading
        assert 180.0 < t.value < 240.0
        assert t.value != float(flow[np.searchsorted(ts, t.ts_ms)])


def test_a_leak_that_is_never_repaired_stays_alarmed_until_the_night_flow_returns() -> None:
    # a leak from night 8 to the end of night 17: its nights never enter the baseline
    ts, flow = inlet(20, leak_from_night=8, spread=0.05, seed=4)
    day = (ts - T0) // (24 * H)
    flow = np.where(day >= 17, flow - 80.0, flow)  # repaired during day 17
    t = table(rise_abs=2.0, nights=1)
    n = ts.shape[0]
    lvl, _, _ = t.run(np.zeros(n, np.int64), ts, flow, np.ones(n, np.int8))
    changes = [(int((ts[i] - T0) // (24 * H)) + 1, int(lvl[i])) for i in np.flatnonzero(lvl >= 0)]
    assert changes[0][1] > 0
    assert changes[0][0] in (8, 9)
    assert [c for c in changes if c[1] == 0] == [changes[-1]]  # cleared once, at the end
    assert changes[-1][0] == 18  # the first night back to normal
