"""The water pack's flow-baseline burst rules on a synthetic district (fieldsim.district, not
the shared files): an inlet flow with a daily shape, +-3 % day to day and 1 % meter noise,
three pressure points of one zone that pumps move together, learned for a week; then a
medium burst (12 % of the inflow, the pressure next to it pulled down more)."""

from __future__ import annotations

from pathlib import Path

from fieldsim.district import DAY_S, Incident, district_rows, local_midnight_ms
from rules.backtest import readings_from_rows
from rules.backtest.replay import backtest
from rules.events import AlarmState, AlarmTransition, PointMeta
from rules.spec import load_rules

T0 = local_midnight_ms(1_700_000_000_000)
POINTS = [
    PointMeta("fm-in", "flow", "flow", "m3/h", 0.0, 5000.0, {"zone": "z"}, 60.0),
    *(PointMeta(f"pt-{i}", "pressure", "pressure", "MPa", 0.0, 1.6, {"zone": "z"}, 60.0)
      for i in (1, 2, 3)),
]  # fmt: skip


def raised(trs: list[AlarmTransition], rule: str) -> list[AlarmTransition]:
    return [t for t in trs if t.rule == rule and t.state is AlarmState.RAISED]


def test_normal_days_with_pump_steps_raise_no_process_alarm(tmp_path: Path) -> None:
    rows = district_rows(T0, days=10, seed=1)
    res = backtest(load_rules(["water"], tmp_path), POINTS, readings_from_rows(rows))
    process = [t for t in res.transitions if t.state is AlarmState.RAISED
               and not t.rule.startswith("water.health")]  # fmt: skip
    assert process == []


def test_a_medium_burst_is_raised_on_the_flow_and_confirmed_by_the_pressure(
    tmp_path: Path,
) -> None:
    start = 8 * DAY_S + 10 * 3600
    rows = district_rows(T0, days=9, seed=2, incident=Incident(start, burst_fraction=0.12))
    res = backtest(load_rules(["water"], tmp_path), POINTS, readings_from_rows(rows))
    (flow,) = raised(res.transitions, "water.flow.above-baseline")
    assert 0 <= flow.ts_ms - (T0 + start * 1000) <= 300_000  # within 5 min
    assert flow.evidence is not None
    assert flow.evidence.delta is not None
    assert flow.evidence.baseline is not None
    assert flow.evidence.delta > 0.05 * flow.evidence.baseline
    (burst,) = raised(res.transitions, "water.burst.flow-pressure")
    assert burst.level == 1
    assert burst.evidence is not None
    members = {(m.device, m.rule) for m in burst.evidence.members}
    assert ("fm-in", "water.flow.above-baseline") in members
    assert ("pt-1", "water.pressure.residual") in members
    assert raised(res.transitions, "water.burst") == []  # the old 0.07 MPa rule saw nothing
