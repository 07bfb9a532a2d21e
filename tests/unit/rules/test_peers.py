"""Peer residual kernel against its reference; drift against peers through the engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import Engine
from rules.events import AlarmState, PointMeta
from rules.pairs import PAIRS
from rules.spec import load_rules

from .streams import sample_batch

N_POINTS, N_BIND = 4, 4


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_peer_residual_matches_reference(data: st.DataObject) -> None:
    rows = [
        data.draw(st.lists(st.integers(0, N_POINTS - 1), max_size=N_POINTS, unique=True))
        for _ in range(N_BIND)
    ]
    ptr = np.zeros(N_BIND + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=ptr[1:])
    idx = np.array([q for r in rows for q in r], dtype=np.int64)
    bind_point = np.array(data.draw(st.permutations(range(N_POINTS))), dtype=np.int64)
    age = np.array(data.draw(st.lists(st.sampled_from([0, 1000, 60_000, 10**9]),
                                      min_size=N_BIND, max_size=N_BIND)), np.int64)  # fmt: skip
    alarm = np.array(data.draw(st.lists(st.sampled_from([0, 0, 1]), min_size=N_POINTS,
                                        max_size=N_POINTS)), np.int8)  # fmt: skip
    states = [
        (np.full(N_POINTS, np.nan), np.full(N_POINTS, -1, np.int64), np.full(N_BIND, np.nan),
         np.zeros(N_POINTS))
        for _ in range(2)
    ]  # fmt: skip
    t0 = 1_700_000_000_000
    for _ in range(data.draw(st.integers(1, 3))):
        bind, ts, value, good = data.draw(sample_batch(N_BIND, t0=t0))
        outs = []
        for fn, (lv, lt, pr, scratch) in zip(PAIRS["peers.residual"], states, strict=True):
            resid = np.empty(len(bind))
            n = fn(bind_point, ptr, idx, age, alarm, lv, lt, pr, scratch, bind, ts, value, good,
                   resid)  # fmt: skip
            outs.append((n, resid))
        assert outs[0][0] == outs[1][0]
        np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-12, equal_nan=True)
        np.testing.assert_array_equal(states[0][1], states[1][1])
        np.testing.assert_allclose(states[0][2], states[1][2], equal_nan=True)
        np.testing.assert_allclose(states[0][0], states[1][0], equal_nan=True)
        t0 = int(ts[-1]) + 1000 if len(ts) else t0


def test_one_drifting_sensor_stands_out_from_its_peers(tmp_path: Path) -> None:
    pts = [PointMeta(f"pt-{i}", "pressure", "pressure", "MPa", 0.0, 1.6, {}) for i in range(4)]
    (tmp_path / "r.toml").write_text(
        '[[rules]]\nid="drift"\nkind="drift"\nquantity="pressure"\nagainst="peers"\n'
        "warmup=30\nsigma_min=0.005\nk_sigma=1.0\nh_sigma=10\ntau_s=21600\nlevel=4\n"
    )
    e = Engine(load_rules(["r.toml"], tmp_path), pts)
    t0 = 1_700_000_000_000
    out = []
    rng = np.random.default_rng(3)
    for m in range(600):  # 10 h of 1-min data; network-wide swings and steps
        common = 0.5 + 0.05 * np.sin(m / 60) + (0.06 if 200 <= m < 260 else 0.0)
        for i, p in enumerate(pts):
            drift = 0.1 * max(0, m - 300) / 300 if i == 2 else 0.0
            x = common + 0.01 * i + drift + rng.normal(0, 0.0015)
            out += e.process(e.index(p.key), t0 + m * 60_000, x, 1)
    raised = [t for t in out if t.state is AlarmState.RAISED]
    assert [t.device for t in raised] == ["pt-2"]
    assert raised[0].ts_ms > t0 + 300 * 60_000  # not before the drift began
