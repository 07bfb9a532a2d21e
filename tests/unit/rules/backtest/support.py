"""Helpers shared by the backtest tests."""

from __future__ import annotations

import numpy as np

from rules.backtest.readings import Readings


def same(a: Readings, b: Readings) -> None:
    assert a.keys == b.keys
    np.testing.assert_array_equal(a.point_idx, b.point_idx)
    np.testing.assert_array_equal(a.ts_ms, b.ts_ms)
    assert a.value.tobytes() == b.value.tobytes()  # bit for bit, NaN and -0.0 too
    np.testing.assert_array_equal(a.good, b.good)
