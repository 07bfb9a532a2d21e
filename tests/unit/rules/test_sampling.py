"""Rules that know their sampling (rules.sampling): windows scale with the poll interval or
the binding says it cannot assess, in the engine and in a backtest."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rules.backtest import readings_from_rows
from rules.backtest.replay import backtest, infer_poll_s
from rules.engine import Engine
from rules.events import AlarmState, PointMeta
from rules.sampling import not_assessing, refusal, scaled
from rules.spec import load_rules

T0 = 1_700_000_000_000 - (1_700_000_000_000 % 86_400_000) - 8 * 3_600_000  # local midnight
HALF_H = 1_800_000


def flow(poll_s: float | None) -> list[PointMeta]:
    return [PointMeta("fm-1", "flow", "flow", "m3/h", 0.0, 5000.0, {"zone": "d"}, poll_s)]


def pressure(poll_s: float | None) -> list[PointMeta]:
    return [PointMeta("pt-1", "pressure", "pressure", "MPa", 0.0, 1.6, {"zone": "d"}, poll_s)]


def rules(tmp_path: Path, text: str) -> Path:
    (tmp_path / "r.toml").write_text(text)
    return tmp_path


def test_scaled_takes_whole_polls_only_when_longer() -> None:
    assert scaled(60.0, None, 3) == 60.0
    assert scaled(60.0, 5.0, 3) == 60.0
    assert scaled(60.0, 1800.0, 3) == 5400.0


@pytest.mark.parametrize(
    ("rule", "poll_s", "refused"),
    [
        ({"kind": "rate", "direction": "falling", "delta": 1.0, "window_s": 300}, 60, False),
        ({"kind": "rate", "direction": "falling", "delta": 1.0, "window_s": 300}, 1800, True),
        (
            {"kind": "trend", "direction": "above", "limit": 1.0, "window_s": 600, "horizon_s": 60},
            200,
            False,
        ),
        (
            {"kind": "trend", "direction": "above", "limit": 1.0, "window_s": 600, "horizon_s": 60},
            201,
            True,
        ),
        ({"kind": "stale", "after_s": 60}, 1800, False),  # scales instead
        ({"kind": "night_flow"}, 1800, False),  # smoothing scales; 2 h nights hold readings
        ({"kind": "night_flow", "night_start_h": 2, "night_end_h": 2.25}, 1800, True),
    ],
)
def test_a_kind_refuses_a_poll_it_cannot_assess(rule: dict, poll_s: float, refused: bool) -> None:  # type: ignore[type-arg]
    from rules.spec import RULE_KINDS

    r = RULE_KINDS[rule["kind"]].model_validate({"id": "r", "points": ["*"], **rule})
    assert (refusal(r, poll_s) is not None) is refused


def test_stale_does_not_fire_between_the_polls_of_a_slow_logger(tmp_path: Path) -> None:
    text = '[[rules]]\nid="s"\nkind="stale"\npoints=["*/*"]\nafter_s=60\nlevel=4\n'
    rs = load_rules(["r.toml"], rules(tmp_path, text))
    e = Engine(rs, flow(1800.0))
    out = []
    for k in range(6):  # every 30 min, ticks in between: never stale
        out += e.process(0, T0 + k * HALF_H, 100.0, 1)
        out += e.tick(T0 + k * HALF_H + HALF_H - 1000)
    assert out == []
    out = e.tick(T0 + 5 * HALF_H + 3 * HALF_H + 1)  # three polls missed: stale
    assert [t.state for t in out] == [AlarmState.RAISED]
    assert out[0].evidence is not None
    assert out[0].evidence.window_s == 5400.0


def night_series(days: int, leak_from_day: int, leak: float) -> list[tuple[int, str, float, int]]:
    """Half-hourly inlet flow: 60 m3/h at night (02-04 local), 300 by day, plus a leak."""
    rows = []
    for k in range(days * 48):
        ts = T0 + k * HALF_H
        hour = (k % 48) / 2.0
        base = 60.0 if 1.0 <= hour < 5.0 else 300.0
        rows.append((ts, "fm-1/flow", base + (leak if k >= leak_from_day * 48 else 0.0), 1))
    return rows


def test_night_flow_assesses_nights_at_a_thirty_minute_step(tmp_path: Path) -> None:
    # the pack's 900 s smoothing restarted at every 30-min gap: no night was ever assessed
    rs = load_rules(["water"], tmp_path)
    rows = night_series(days=8, leak_from_day=5, leak=30.0)
    result = backtest(rs, flow(None), readings_from_rows(rows))
    raised = [t for t in result.transitions if t.kind == "night_flow" and t.level > 0
              and t.state is AlarmState.RAISED]  # fmt: skip
    assert raised, "the leak's nights are assessed and raise"
    ev = raised[0].evidence
    assert ev is not None
    assert ev.baseline == pytest.approx(60.0, rel=0.05)  # smoothed: a little of the evening
    assert ev.delta == pytest.approx(30.0, rel=0.05)


def test_a_backtest_lists_what_could_not_assess_at_the_datas_step(tmp_path: Path) -> None:
    rs = load_rules(["water"], tmp_path)
    rows = [(T0 + k * HALF_H, "pt-1/pressure", 0.4, 1) for k in range(10)]
    result = backtest(rs, pressure(None), readings_from_rows(rows))
    assert ("water.pressure.drop", 1800.0) in {(n.rule, n.poll_s) for n in result.not_assessing}


def test_the_engine_lists_bindings_that_can_never_raise(tmp_path: Path) -> None:
    rs = load_rules(["water"], tmp_path)
    fast = Engine(rs, pressure(5.0))
    slow = Engine(rs, [replace(p, poll_s=1800.0) for p in pressure(None)])
    assert fast.not_assessing == []
    assert {"water.pressure.drop", "water.burst"} <= {n.rule for n in slow.not_assessing}
    assert not_assessing(rs, pressure(None)) == []  # unknown poll: nothing is claimed


def test_infer_poll_takes_each_points_median_step() -> None:
    ts = np.array([0, 1000, 2000, 60_000, 0, 30_000, 60_000, 5], dtype=np.int64)
    idx = np.array([0, 0, 0, 0, 1, 1, 1, 2], dtype=np.int64)
    assert infer_poll_s(ts, idx, 3) == [1.0, 30.0, None]
