"""Readings from a caller's columns (the buffer.db path): time order, quality words."""

from __future__ import annotations

import math

import pytest

from rules.backtest.readings import quality_good, readings_from_columns, readings_from_rows
from tests.unit.rules.backtest.support import same


def test_columns_are_sorted_by_time_keeping_equal_times_in_order() -> None:
    r = readings_from_columns(["a/x", "b/y"], [0, 1, 0], [3000, 1000, 1000], [3.0, 1.0, 2.0])
    assert r.ts_ms.tolist() == [1000, 1000, 3000]
    assert r.point_idx.tolist() == [1, 0, 0]
    assert r.value.tolist() == [1.0, 2.0, 3.0]
    assert r.good.tolist() == [1, 1, 1]  # no quality column: all good


def test_quality_words_become_the_good_flag() -> None:
    words = ["good", "uncertain", "bad", "BAD", "0", "false", "", "1"]
    r = readings_from_columns(["a/x"], [0] * 8, range(8), [1.0] * 8, words)
    assert r.good.tolist() == [1, 1, 0, 0, 0, 0, 1, 1]
    assert [quality_good(w) for w in words] == r.good.tolist()


def test_columns_give_what_rows_give() -> None:
    nan = math.nan
    rows = [(2, "b/y", 1.5, 1), (1, "a/x", nan, 0), (2, "a/x", 0.5, 1)]
    by_rows = readings_from_rows(rows)
    by_cols = readings_from_columns(["b/y", "a/x"], [0, 1, 1], [2, 1, 2], [1.5, nan, 0.5],
                                    ["good", "bad", "good"])  # fmt: skip
    same(by_cols, by_rows)


@pytest.mark.parametrize(
    ("point_idx", "match"), [([0, 0], "different lengths"), ([0, 1, 2], "outside keys")]
)
def test_columns_that_do_not_fit_are_refused(point_idx: list[int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        readings_from_columns(["a/x", "b/y"], point_idx, [1, 2, 3], [1.0, 2.0, 3.0])
