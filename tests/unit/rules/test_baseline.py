"""The `baseline` kind through the engine: a daily pattern learned online, a step against it
raised with its evidence, an incident never learned, cold start on the fixed limit, and the
learned state carried across a restart."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rules.backtest import readings_from_rows
from rules.backtest.replay import backtest
from rules.engine import Engine
from rules.events import AlarmState, AlarmTransition, PointMeta
from rules.spec import RuleSet, load_rules

DAY = 86_400_000
T0 = 1_700_000_000_000 - (1_700_000_000_000 % DAY) - 8 * 3_600_000  # local (UTC+8) midnight
POINTS = [PointMeta("fm-1", "flow", "flow", "m3/h", 0.0, 5000.0, {"zone": "d"}, 60.0)]
RULE = """
[[rules]]
id = "flow.high"
kind = "baseline"
quantity = "flow"
direction = "above"
n_sigma = 4
min_delta = 25
weekends = false
min_days = 3
on_delay_s = 120
off_delay_s = 600
cold_limit = 900
level = 2
"""


def ruleset(tmp_path: Path) -> RuleSet:
    (tmp_path / "r.toml").write_text(RULE)
    return load_rules(["r.toml"], tmp_path)


Row = tuple[int, str, float, int]


def demand(
    days: float, step: float = 0.0, step_from_s: float = math.inf, step_to_s: float = math.inf
) -> list[Row]:
    """A day-shaped inlet flow (m3/h) every minute, noise sd 5, plus a step in a window."""
    rng = np.random.default_rng(1)
    rows = []
    for k in range(int(days * 1440)):
        t_s = k * 60.0
        hour = (t_s / 3600.0) % 24.0
        x = 300.0 + 150.0 * math.sin(2 * math.pi * (hour - 9.0) / 24.0) + rng.normal(0.0, 5.0)
        if step_from_s <= t_s < step_to_s:
            x += step
        rows.append((T0 + int(t_s * 1000), "fm-1/flow", x, 1))
    return rows


def raised(trs: list[AlarmTransition]) -> list[AlarmTransition]:
    return [t for t in trs if t.state is AlarmState.RAISED]


def test_normal_days_stay_quiet_once_learned(tmp_path: Path) -> None:
    res = backtest(ruleset(tmp_path), POINTS, readings_from_rows(demand(8)))
    assert raised(res.transitions) == []


def test_a_step_above_the_learned_day_is_raised_with_its_baseline(tmp_path: Path) -> None:
    start = 5 * 86_400 + 10 * 3600  # day 5, 10:00 local
    rows = demand(6, step=80.0, step_from_s=start, step_to_s=start + 3 * 3600)
    res = backtest(ruleset(tmp_path), POINTS, readings_from_rows(rows))
    (alarm,) = raised(res.transitions)
    assert 0 <= alarm.ts_ms - (T0 + start * 1000) <= 300_000  # on-delay 120 s plus noise
    ev = alarm.evidence
    assert ev is not None
    assert ev.note is None  # learned, not the cold-start limit
    expected = 300.0 + 150.0 * math.sin(2 * math.pi * (10.0 - 9.0) / 24.0)
    assert ev.baseline == pytest.approx(expected, abs=15.0)
    assert ev.delta == pytest.approx(80.0, abs=20.0)
    cleared = [t for t in res.transitions if t.state is AlarmState.CLEARED]
    assert len(cleared) == 1  # the data returned: cleared after the off-delay


def test_a_lasting_leak_is_never_learned_and_stays_alarmed(tmp_path: Path) -> None:
    start = 4 * 86_400  # from day 4, midnight, for the rest of the data: three more days
    rows = demand(7, step=60.0, step_from_s=start)
    res = backtest(ruleset(tmp_path), POINTS, readings_from_rows(rows))
    assert len(raised(res.transitions)) == 1
    assert [t for t in res.transitions if t.state is AlarmState.CLEARED] == []


def test_cold_start_decides_on_the_fixed_limit_and_says_so(tmp_path: Path) -> None:
    rows = demand(0.5, step=800.0, step_from_s=3600, step_to_s=7200)  # ~970 against 900
    (alarm,) = raised(backtest(ruleset(tmp_path), POINTS, readings_from_rows(rows)).transitions)
    assert alarm.evidence is not None
    assert alarm.evidence.note == "cold start: fixed limit"
    assert alarm.limit == 900.0


def test_what_was_learned_survives_a_restart(tmp_path: Path) -> None:
    rs = ruleset(tmp_path)
    first = Engine(rs, POINTS)
    learn = readings_from_rows(demand(4))
    first.process_batch(learn.point_idx, learn.ts_ms, learn.value, learn.good)
    stored = first.learned()
    assert set(stored) == {("flow.high", "fm-1/flow")}
    step = [(T0 + 4 * DAY + 10 * 3_600_000 + k * 60_000, "fm-1/flow", 500.0, 1) for k in range(5)]
    batch = readings_from_rows(step)

    def alarms_after(engine: Engine) -> list[AlarmTransition]:
        return raised(engine.process_batch(batch.point_idx, batch.ts_ms, batch.value, batch.good))

    restarted = Engine(rs, POINTS)
    assert restarted.load_learned(stored) == 1
    assert len(alarms_after(restarted)) == 1  # ~365 expected at 10:00: 500 is far above
    assert alarms_after(Engine(rs, POINTS)) == []  # a fresh engine is still in cold start


PEERS_RULE = """
[[rules]]
id = "p.resid"
kind = "baseline"
quantity = "pressure"
direction = "below"
against = "peers"
peers_scope = "zone"
n_sigma = 5
min_delta = 0.015
sigma_min = 0.002
weekends = false
min_days = 2
on_delay_s = 120
level = 2
"""


def zone(days: int, zone_step_at_s: float, burst_at_s: float) -> list[Row]:
    """Three pressure points of one zone (MPa): a daily swing, a zone-wide 0.06 step for an
    hour (a pump switching) and, later, 0.03 more at pt-1 alone for an hour (a burst)."""
    rng = np.random.default_rng(2)
    rows = []
    for k in range(days * 1440):
        t_s = k * 60.0
        swing = 0.05 * math.sin(2 * math.pi * (t_s / 3600.0 - 9.0) / 24.0)
        common = -0.06 if zone_step_at_s <= t_s < zone_step_at_s + 3600 else 0.0
        for i, offset in ((1, 0.0), (2, 0.03), (3, -0.02)):
            x = 0.40 + offset + swing + common + rng.normal(0.0, 0.001)
            if i == 1 and burst_at_s <= t_s < burst_at_s + 3600:
                x -= 0.03
            rows.append((T0 + int(t_s * 1000), f"pt-{i}/pressure", x, 1))
    return rows


def test_a_burst_near_one_point_stands_out_of_its_zones_common_move(tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text(PEERS_RULE)
    points = [PointMeta(f"pt-{i}", "pressure", "pressure", "MPa", 0.0, 1.6, {"zone": "z"}, 60.0)
              for i in (1, 2, 3)]  # fmt: skip
    rows = zone(4, zone_step_at_s=2 * 86_400 + 10 * 3600, burst_at_s=3 * 86_400 + 14 * 3600)
    res = backtest(load_rules(["r.toml"], tmp_path), points, readings_from_rows(rows))
    (alarm,) = raised(res.transitions)  # the zone-wide step raised nothing
    assert alarm.device == "pt-1"
    assert alarm.ts_ms - (T0 + (3 * 86_400 + 14 * 3600) * 1000) <= 300_000
    assert alarm.evidence is not None
    assert alarm.evidence.note == "residual against peers"
    assert alarm.evidence.delta == pytest.approx(-0.03, abs=0.008)
