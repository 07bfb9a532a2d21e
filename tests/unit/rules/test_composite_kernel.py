"""Composite kernel against its reference on random member events and ticks."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.pairs import PAIRS

N_BIND, N_SLOTS = 3, 5


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_composite_kernel_matches_reference(data: st.DataObject) -> None:
    slot_rule = np.array(
        data.draw(st.lists(st.lists(st.integers(-1, 2), min_size=N_SLOTS, max_size=N_SLOTS),
                           min_size=N_BIND, max_size=N_BIND)),
        dtype=np.int64,
    )  # fmt: skip
    params = (
        slot_rule,
        np.array(
            data.draw(st.lists(st.integers(1, 4), min_size=N_BIND, max_size=N_BIND)), np.int64
        ),
        np.array(data.draw(st.lists(st.integers(0, 1), min_size=N_BIND, max_size=N_BIND)), np.int8),
        np.array(
            data.draw(
                st.lists(st.sampled_from([0, 1000, 60_000]), min_size=N_BIND, max_size=N_BIND)
            ),
            np.int64,
        ),
        np.array(data.draw(st.lists(st.integers(1, 4), min_size=N_BIND, max_size=N_BIND)), np.int8),
    )
    states = [
        (np.full((N_BIND, N_SLOTS), -1, np.int64), np.zeros((N_BIND, N_SLOTS), np.int8),
         np.zeros(N_BIND, np.int8))
        for _ in range(2)
    ]  # fmt: skip
    t = 1_700_000_000_000
    for _ in range(data.draw(st.integers(1, 4))):
        m = data.draw(st.integers(0, 30))
        steps = data.draw(st.lists(st.sampled_from([0, 500, 1000, 30_000, 120_000]), min_size=m,
                                   max_size=m))  # fmt: skip
        ev_ts = t + np.cumsum(np.array(steps, dtype=np.int64))
        ev_bind = np.array(data.draw(st.lists(st.integers(0, N_BIND - 1), min_size=m, max_size=m)),
                           np.int64)  # fmt: skip
        ev_slot = np.array(data.draw(st.lists(st.integers(0, N_SLOTS - 1), min_size=m, max_size=m)),
                           np.int64)  # fmt: skip
        ev_up = np.array(data.draw(st.lists(st.integers(0, 1), min_size=m, max_size=m)), np.int8)
        outs = []
        for (fn, _), st_ in zip(
            [(PAIRS["composite.step"][0], 0), (PAIRS["composite.step"][1], 1)], states, strict=True
        ):
            out = np.empty(m, np.int8)
            n = fn(*params, *st_, ev_bind, ev_slot, ev_ts, ev_up, out)
            outs.append((n, out))
        assert outs[0][0] == outs[1][0]
        np.testing.assert_array_equal(outs[0][1], outs[1][1])
        t = int(ev_ts[-1]) if m else t
        t += data.draw(st.sampled_from([0, 1000, 90_000]))
        enabled = np.array(data.draw(st.lists(st.integers(0, 1), min_size=N_BIND, max_size=N_BIND)),
                           np.int8)  # fmt: skip
        ticks = []
        for fn, st_ in zip(
            [PAIRS["composite.tick"][0], PAIRS["composite.tick"][1]], states, strict=True
        ):
            out = np.empty(N_BIND, np.int8)
            ticks.append((fn(*params, *st_, enabled, t, out), out))
        assert ticks[0][0] == ticks[1][0]
        np.testing.assert_array_equal(ticks[0][1], ticks[1][1])
        for a, b in zip(states[0], states[1], strict=True):
            np.testing.assert_array_equal(a, b)
