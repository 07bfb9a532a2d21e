"""Counter points report growth since the previous poll, and survive device restarts."""

from __future__ import annotations

import math

from drivers.base import PointValue
from drivers.counters import Counters


def pv(value: float, quality: str = "good") -> PointValue:
    return PointValue("rain", value, quality, None)  # type: ignore[arg-type]


def test_first_reading_is_not_counted_then_increments() -> None:
    c = Counters()
    first = c.increment(pv(100.0))
    assert first.quality == "bad"
    assert math.isnan(first.value)
    assert c.increment(pv(100.5)).value == 0.5
    assert c.increment(pv(100.5)).value == 0.0


def test_a_restart_counts_what_came_since_and_says_so() -> None:
    c = Counters()
    c.increment(pv(250.0))
    after = c.increment(pv(1.2))  # power cycle: the count began again at zero
    assert after.value == 1.2
    assert after.quality == "uncertain"
    assert c.increment(pv(2.0)).value == 0.8


def test_a_bad_reading_leaves_the_count_so_the_next_spans_the_gap() -> None:
    c = Counters()
    c.increment(pv(10.0))
    gap = c.increment(pv(math.nan, "bad"))
    assert gap.quality == "bad"
    assert c.increment(pv(13.0)).value == 3.0
