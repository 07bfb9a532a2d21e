"""Threshold kernel: identical to its reference on random streams; the behaviours it promises."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.kernels import threshold as kernel
from rules.reference import threshold as reference

from .streams import sample_batch

N = 3


def params(
    levels: dict[int, float], direction: int = 1, hyst: float = 0.0,
    on_s: float | dict[int, float] = 0.0, off_s: float = 0.0, n: int = N,
) -> dict[str, np.ndarray]:  # fmt: skip
    limits = np.full((n, 4), np.nan)
    on_ms = np.zeros((n, 4), dtype=np.int64)
    for lvl, lim in levels.items():
        limits[:, lvl - 1] = lim
        delay = on_s if isinstance(on_s, float | int) else on_s.get(lvl, 0.0)
        on_ms[:, lvl - 1] = int(delay * 1000)
    return {
        "limits": limits,
        "direction": np.full(n, direction, dtype=np.int8),
        "hyst": np.full(n, hyst),
        "on_ms": on_ms,
        "off_ms": np.full(n, int(off_s * 1000), dtype=np.int64),
        "active": np.zeros(n, dtype=np.int8),
        "since": np.full((n, 4), -1, dtype=np.int64),
        "below_since": np.full(n, -1, dtype=np.int64),
    }


def run(fn, p: dict[str, np.ndarray], bind, ts, value, good):  # type: ignore[no-untyped-def]
    m = len(bind)
    out_level = np.empty(m, dtype=np.int8)
    out_limit = np.empty(m)
    n = fn(**p, bind=bind, ts=ts, value=value, good=good, out_level=out_level, out_limit=out_limit)
    return n, out_level, out_limit


def series(values: list[float], dt_s: float = 1.0, good: list[int] | None = None):  # type: ignore[no-untyped-def]
    m = len(values)
    return (
        np.zeros(m, dtype=np.int64),
        (np.arange(m, dtype=np.int64) * int(dt_s * 1000)) + 1_000_000,
        np.array(values, dtype=np.float64),
        np.array(good if good is not None else [1] * m, dtype=np.int8),
    )


def changes(p: dict[str, np.ndarray], values: list[float], dt_s: float = 1.0, good=None):  # type: ignore[no-untyped-def]
    bind, ts, value, g = series(values, dt_s, good)
    _, lvl, _ = run(kernel.step, p, bind, ts, value, g)
    return [(i, int(x)) for i, x in enumerate(lvl) if x >= 0]


level_sets = st.dictionaries(st.integers(1, 4), st.floats(-1.5, 1.5), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    levels=level_sets,
    direction=st.sampled_from([1, -1]),
    hyst=st.sampled_from([0.0, 0.05, 0.3]),
    on_s=st.sampled_from([0.0, 1.0, 10.0]),
    off_s=st.sampled_from([0.0, 2.0, 60.0]),
    batch=sample_batch(N),
)
def test_kernel_matches_reference(levels, direction, hyst, on_s, off_s, batch) -> None:  # type: ignore[no-untyped-def]
    pk = params(levels, direction, hyst, on_s, off_s)
    pr = {k: v.copy() for k, v in pk.items()}
    a = run(kernel.step, pk, *batch)
    b = run(reference.step, pr, *batch)
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])
    for k in ("active", "since", "below_since"):
        np.testing.assert_array_equal(pk[k], pr[k])


def test_raises_then_clears_without_delays() -> None:
    p = params({2: 1.0})
    assert changes(p, [0.0, 1.2, 1.3, 0.5]) == [(1, 2), (3, 0)]


def test_hysteresis_holds_an_alarm_until_back_past_the_band() -> None:
    p = params({2: 1.0}, hyst=0.1)
    # 0.95 is below the limit but inside the band; 0.85 leaves it
    assert changes(p, [1.1, 0.95, 0.92, 0.85]) == [(0, 2), (3, 0)]


def test_below_direction_with_hysteresis() -> None:
    p = params({3: 0.16, 1: 0.10}, direction=-1, hyst=0.01)
    assert changes(p, [0.2, 0.15, 0.09, 0.105, 0.12, 0.165, 0.18]) == [
        (1, 3), (2, 1), (4, 3), (6, 0)
    ]  # fmt: skip


def test_on_delay_suppresses_a_short_spike() -> None:
    p = params({3: 1.0}, on_s=10.0)
    assert changes(p, [0.0, 2.0, 2.0, 0.0, 0.0]) == []


def test_on_delay_raises_after_the_delay() -> None:
    p = params({3: 1.0}, on_s=3.0)
    assert changes(p, [0.0, 2.0, 2.0, 2.0, 2.0, 2.0]) == [(4, 3)]


def test_nan_and_bad_quality_do_not_restart_the_on_delay() -> None:
    p = params({3: 1.0}, on_s=3.0)
    vals = [2.0, float("nan"), -5.0, 2.0, 2.0]
    assert changes(p, vals, good=[1, 1, 0, 1, 1]) == [(3, 3)]


def test_level_changes_up_and_down() -> None:
    p = params({4: 5.0, 3: 10.0, 2: 25.0, 1: 50.0}, hyst=2.0)
    assert changes(p, [0, 6, 12, 30, 60, 40, 24, 22, 2.9]) == [
        (1, 4), (2, 3), (3, 2), (4, 1), (5, 2), (7, 3), (8, 0)
    ]  # fmt: skip


def test_cleared_only_after_off_delay() -> None:
    p = params({2: 1.0}, off_s=5.0)
    # back below at t=1; a short return above at t=3 restarts the off-delay
    got = changes(p, [2.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert got == [(0, 2), (9, 0)]


def test_escalation_is_not_held_back_by_the_off_delay() -> None:
    p = params({3: 1.0, 1: 3.0}, off_s=60.0)
    assert changes(p, [1.5, 3.5, 1.5]) == [(0, 3), (1, 1)]


def test_limit_output_names_the_crossed_limit() -> None:
    p = params({3: 1.0, 1: 3.0})
    bind, ts, value, good = series([1.5, 3.5, 0.0])
    _, lvl, lim = run(kernel.step, p, bind, ts, value, good)
    assert list(lvl) == [3, 1, 0]
    assert list(lim) == [1.0, 3.0, 3.0]
