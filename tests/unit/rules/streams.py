"""Hypothesis strategies for the kernel-vs-reference tests: irregular, gappy, noisy streams."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


@st.composite
def sample_batch(
    draw: st.DrawFn,
    n_bind: int,
    lo: float = -2.0,
    hi: float = 2.0,
    max_len: int = 120,
    t0: int = 1_700_000_000_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bind, ts, value, good): per binding non-decreasing irregular ts, NaNs, bad quality, gaps."""
    m = draw(st.integers(0, max_len))
    bind = np.array(draw(st.lists(st.integers(0, n_bind - 1), min_size=m, max_size=m)), np.int64)
    steps = draw(
        st.lists(st.sampled_from([0, 1, 250, 1000, 1000, 1000, 5000, 30_000, 600_000]),
                 min_size=m, max_size=m)
    )  # fmt: skip
    ts = np.cumsum(np.array(steps, dtype=np.int64)) + t0
    values = draw(
        st.lists(
            st.one_of(
                st.floats(lo, hi, allow_nan=False),
                st.just(float("nan")),
                st.sampled_from([lo, hi, 0.0, 0.5, 1.0]),
            ),
            min_size=m, max_size=m,
        )
    )  # fmt: skip
    good = np.array(
        draw(st.lists(st.sampled_from([1, 1, 1, 1, 0]), min_size=m, max_size=m)), np.int8
    )
    return bind, ts, np.array(values, dtype=np.float64), good
