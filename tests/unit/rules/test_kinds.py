"""Each rule kind's behaviour through the engine: what an engineer would check by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.engine import Engine
from rules.events import AlarmState, AlarmTransition, PointMeta
from rules.spec import load_rules

T0 = 1_700_000_000_000
POINTS = [
    PointMeta("pt-1", "pressure", "pressure", "MPa", 0.0, 1.6, {"zone": "east"}),
    PointMeta("pt-2", "pressure", "pressure", "MPa", 0.0, 1.6, {"zone": "east"}),
    PointMeta("pt-3", "pressure", "pressure", "MPa", 0.0, 1.6, {"zone": "west"}),
    PointMeta("fm-1", "flow", "flow", "m3/h", 0.0, 5000.0, {"zone": "east"}),
    PointMeta("lv-1", "level", "level", "m", 0.0, 3.0, {"rim_depth_m": "2.5", "zone": "east"}),
]


def engine(tmp_path: Path, text: str) -> Engine:
    (tmp_path / "r.toml").write_text(text)
    return Engine(load_rules(["r.toml"], tmp_path), POINTS)


def feed(e: Engine, key: str, values: list[float], t0: int = T0, dt_s: float = 1.0,
         good: int = 1) -> list[AlarmTransition]:  # fmt: skip
    out = []
    for i, v in enumerate(values):
        out += e.process(e.index(key), t0 + round(i * dt_s * 1000), v, good)
    return out


def states(trs: list[AlarmTransition]) -> list[tuple[str, int]]:
    return [(str(t.state), t.level) for t in trs]


def test_rate_raises_on_a_fast_drop_and_clears_when_it_leaves_the_window(tmp_path: Path) -> None:
    e = engine(tmp_path, '[[rules]]\nid="drop"\nkind="rate"\nquantity="pressure"\n'
               'direction="falling"\ndelta=0.05\nwindow_s=60\nlevel=2\n')  # fmt: skip
    # a slow 0.04 fall over 2 min is not a drop; 0.06 within 20 s is
    slow = feed(e, "pt-1/pressure", [0.50 - 0.0004 * i for i in range(100)], dt_s=1.2)
    assert slow == []
    fast = feed(
        e, "pt-1/pressure", [0.46, 0.43, 0.40, 0.40] + [0.40] * 60, t0=T0 + 200_000, dt_s=10
    )
    assert states(fast) == [("raised", 2), ("cleared", 2)]
    assert fast[0].limit == 0.05
    assert fast[1].ts_ms - fast[0].ts_ms <= 70_000


def test_trend_predicts_the_time_to_the_limit(tmp_path: Path) -> None:
    e = engine(tmp_path, '[[rules]]\nid="eta"\nkind="trend"\nquantity="level"\n'
               'direction="above"\nlimit=0.0\nrelative_to="rim_depth_m"\nwindow_s=300\n'
               'horizon_s=1800\nlevel=3\n')  # fmt: skip
    # rising 1 mm/s from 0.5 m: rim 2.5 m is 2000 s away at first, < 1800 s from 0.7 m
    trs = feed(e, "lv-1/level", [0.5 + 0.001 * 60 * i for i in range(10)], dt_s=60)
    assert states(trs) == [("raised", 3)]
    (raised,) = trs
    assert raised.limit == pytest.approx(2.5)
    expected = (2.5 - (0.5 + 0.06 * 4)) / 0.001
    assert raised.eta_s == pytest.approx(expected, rel=1e-6)
    # flat again: the prediction goes away
    trs = feed(e, "lv-1/level", [0.74] * 10, t0=T0 + 600_000, dt_s=60)
    assert states(trs) == [("cleared", 3)]


def test_flatline_raises_on_a_stuck_value_and_clears_when_it_moves(tmp_path: Path) -> None:
    e = engine(tmp_path, '[[rules]]\nid="stuck"\nkind="flatline"\nquantity="pressure"\n'
               'epsilon=0.001\nduration_s=600\n')  # fmt: skip
    trs = feed(e, "pt-1/pressure", [0.5, 0.5005, 0.5] * 5 + [0.52], dt_s=60)
    assert states(trs) == [("raised", 4), ("cleared", 4)]
    assert trs[0].ts_ms == T0 + 600_000


def test_flatline_ignores_a_dry_sensor_at_its_range_floor(tmp_path: Path) -> None:
    e = engine(tmp_path, '[[rules]]\nid="stuck"\nkind="flatline"\nquantity="level"\n'
               'epsilon=0.001\nduration_s=600\n')  # fmt: skip
    assert feed(e, "lv-1/level", [0.0] * 30, dt_s=60) == []


def test_out_of_range_counts_bad_quality_readings(tmp_path: Path) -> None:
    e = engine(tmp_path, '[[rules]]\nid="oor"\nkind="range"\npoints=["*/*"]\ncount=3\n')
    trs = feed(e, "pt-1/pressure", [1.7, 1.7, 1.7], good=0)
    assert states(trs) == [("raised", 4)]
    assert trs[0].limit == pytest.approx(1.6 + 0.016)
    assert states(feed(e, "pt-1/pressure", [0.5], t0=T0 + 10_000)) == [("cleared", 4)]


def test_stale_needs_the_tick_and_clears_on_a_good_reading(tmp_path: Path) -> None:
    e = engine(tmp_path, '[[rules]]\nid="silent"\nkind="stale"\npoints=["pt-1/*"]\nafter_s=60\n')
    assert e.tick(T0) == []  # starts the clock
    assert e.tick(T0 + 59_000) == []
    (raised,) = e.tick(T0 + 60_000)
    assert (raised.state, raised.point, raised.limit) == (AlarmState.RAISED, "pressure", 60.0)
    assert e.tick(T0 + 120_000) == []
    (cleared,) = feed(e, "pt-1/pressure", [0.5], t0=T0 + 130_000)
    assert (cleared.state, cleared.alarm_id) == (AlarmState.CLEARED, raised.alarm_id)


def test_drift_raises_once_on_a_persistent_shift(tmp_path: Path) -> None:
    e = engine(tmp_path, '[[rules]]\nid="drift"\nkind="drift"\npoints=["pt-1/*"]\n'
               'warmup=20\nsigma_min=0.001\nhold_s=600\n')  # fmt: skip
    noise = [0.001, -0.001, 0.0005, -0.0005]
    base = [0.5 + noise[i % 4] for i in range(40)]
    assert feed(e, "pt-1/pressure", base, dt_s=60) == []
    shifted = [0.52 + noise[i % 4] for i in range(5)]
    trs = feed(e, "pt-1/pressure", shifted, t0=T0 + 40 * 60_000, dt_s=60)
    assert states(trs) == [("raised", 4)]
    later = feed(e, "pt-1/pressure", shifted * 3, t0=T0 + 45 * 60_000, dt_s=60)
    assert states(later) == [("cleared", 4)]


COUPLED = """
[[rules]]
id = "drop"
kind = "threshold"
quantity = "pressure"
direction = "below"
levels = [ { level = 3, limit = 0.3 } ]

[[rules]]
id = "surge"
kind = "threshold"
quantity = "flow"
direction = "above"
levels = [ { level = 3, limit = 1000.0 } ]

[[rules]]
id = "burst"
kind = "composite"
of = ["drop", "surge"]
need = "all"
scope = "zone"
window_s = 600
level = 1
"""


def test_composite_couples_alarms_in_the_same_zone_within_the_window(tmp_path: Path) -> None:
    e = engine(tmp_path, COUPLED)
    feed(e, "pt-3/pressure", [0.2])  # west: another zone, does not count
    trs = feed(e, "fm-1/flow", [1500.0], t0=T0 + 1000)
    assert [t.rule for t in trs] == ["surge"]
    feed(e, "fm-1/flow", [500.0], t0=T0 + 2000)  # cleared, but raised within the window
    trs = feed(e, "pt-2/pressure", [0.2], t0=T0 + 300_000)
    assert [(t.rule, t.state, t.level, t.point, t.device) for t in trs] == [
        ("drop", AlarmState.RAISED, 3, "pressure", "pt-2"),
        ("burst", AlarmState.RAISED, 1, "pressure", "pt-2"),
    ]
    assert (trs[1].value, trs[1].limit) == (0.2, 0.3)  # the deciding member's
    # the flow window passes while the pressure alarm stays: the coupling ends on a tick
    (cleared,) = e.tick(T0 + 1000 + 601_000)
    assert (cleared.rule, cleared.state, cleared.device) == ("burst", AlarmState.CLEARED, "pt-2")


def test_composite_outside_the_window_does_not_fire(tmp_path: Path) -> None:
    e = engine(tmp_path, COUPLED)
    feed(e, "fm-1/flow", [1500.0, 500.0])
    trs = feed(e, "pt-1/pressure", [0.2], t0=T0 + 700_000)
    assert [t.rule for t in trs] == ["drop"]


def test_composite_members_must_exist(tmp_path: Path) -> None:
    from rules.errors import RuleError

    with pytest.raises(RuleError, match=r"rules\[2\]\.of\[1\]"):
        engine(tmp_path, COUPLED.replace('"surge"]', '"nope"]'))


def test_reload_keeps_unchanged_alarms_and_clears_changed_ones(tmp_path: Path) -> None:
    e = engine(tmp_path, COUPLED)
    (drop,) = feed(e, "pt-1/pressure", [0.2])
    raised = feed(e, "fm-1/flow", [1500.0], t0=T0 + 1000)
    assert sorted(t.rule for t in raised) == ["burst", "surge"]
    (tmp_path / "r.toml").write_text(COUPLED.replace("limit = 1000.0", "limit = 2000.0"))
    new, cleared = e.reload(load_rules(["r.toml"], tmp_path), T0 + 2000)
    assert sorted(t.rule for t in cleared) == ["burst", "surge"]
    assert [t.alarm_id for t in new.active()] == [drop.alarm_id]
    # unchanged binding kept its state: still below, no new raise
    assert feed(new, "pt-1/pressure", [0.2], t0=T0 + 3000) == []


def test_spikes_that_come_back_raise_and_a_step_does_not(tmp_path: Path) -> None:
    e = engine(tmp_path, '[[rules]]\nid="spiky"\nkind="spike"\npoints=["pt-1/*"]\n'
               "min_delta=0.01\ncount=2\nper_s=3600\n")  # fmt: skip
    noise = [0.500, 0.501, 0.499, 0.500, 0.502, 0.498]
    # a step of 0.1 that stays: held back twice, then accepted as the new normal
    assert feed(e, "pt-1/pressure", noise + [0.6] * 8, dt_s=60) == []
    base = [0.600, 0.601, 0.599, 0.600, 0.602]
    one = feed(e, "pt-1/pressure", [*base, 0.9, *base], t0=T0 + 3_600_000, dt_s=60)
    assert one == []  # one spike: below count
    two = feed(e, "pt-1/pressure", [0.3, 0.3, *base], t0=T0 + 4_400_000, dt_s=60)
    assert states(two) == [("raised", 4)]
    assert two[0].kind == "spike"
    quiet = feed(e, "pt-1/pressure", base * 14, t0=T0 + 5_000_000, dt_s=60)
    assert states(quiet) == [("cleared", 4)]


SILENT = """
[[rules]]
id = "drop"
kind = "rate"
quantity = "pressure"
direction = "falling"
delta = 0.1
window_s = 300
notify = false

[[rules]]
id = "burst"
kind = "composite"
of = ["drop"]
need = 2
count = "points"
window_s = 300
"""


def test_a_silent_member_only_speaks_through_its_composite(tmp_path: Path) -> None:
    e = engine(tmp_path, SILENT)
    assert feed(e, "pt-1/pressure", [0.5, 0.3]) == []  # one point: nothing reported
    assert e.active() == []
    (burst,) = feed(e, "pt-3/pressure", [0.5, 0.3], t0=T0 + 30_000)
    assert (burst.rule, burst.device, burst.state) == ("burst", "pt-3", AlarmState.RAISED)
    assert [t.rule for t in e.active()] == ["burst"]


def test_despiked_rate_ignores_a_lone_reading_but_not_a_step(tmp_path: Path) -> None:
    e = engine(tmp_path, '[[rules]]\nid="rise"\nkind="rate"\nquantity="level"\n'
               'direction="rising"\ndelta=0.3\nwindow_s=300\ndespike=true\n'
               "on_delay_s=60\nlevel=3\n")  # fmt: skip
    # a dropout to zero and back, then an upward splash: neither is a rise
    assert feed(e, "lv-1/level", [0.5, 0.0, 0.5, 0.5, 1.2, 0.5, 0.5], dt_s=60) == []
    # a real rise that stays
    trs = feed(e, "lv-1/level", [0.5, 0.9, 0.95, 1.0], t0=T0 + 3_600_000, dt_s=60)
    assert states(trs) == [("raised", 3)]
    assert trs[0].ts_ms == T0 + 3_600_000 + 120_000  # held for the 60 s on-delay


def test_despiked_trend_is_not_tilted_by_a_spike(tmp_path: Path) -> None:
    rule = ('[[rules]]\nid="eta"\nkind="trend"\nquantity="level"\ndirection="above"\n'
            'limit=0.0\nrelative_to="rim_depth_m"\nwindow_s=600\nhorizon_s=1800\n')  # fmt: skip
    # a slow rise (3 cm/min: the rim 1 h away) with one 0.5 m splash: the splash tilts the fit
    # into the 30 min horizon, significantly so (a lone spike on a flat line does not)
    rise = [0.5 + 0.03 * i + (0.5 if i == 8 else 0.0) for i in range(12)]
    assert states(feed(engine(tmp_path, rule), "lv-1/level", rise, dt_s=60)) != []
    assert feed(engine(tmp_path, rule + "despike=true\n"), "lv-1/level", rise, dt_s=60) == []


def test_samples_tick_the_engine_when_nobody_else_does(tmp_path: Path) -> None:
    e = engine(tmp_path, '[[rules]]\nid="silent"\nkind="stale"\npoints=["pt-1/*"]\nafter_s=60\n')
    assert feed(e, "pt-2/pressure", [0.5]) == []  # first sample: the clock starts
    (raised,) = feed(e, "pt-2/pressure", [0.5], t0=T0 + 61_000)  # pt-1 never reported
    assert (raised.device, raised.rule, raised.state) == ("pt-1", "silent", AlarmState.RAISED)


def test_accumulation_sums_rain_over_its_window(tmp_path: Path) -> None:
    pts = [PointMeta("rg-1", "rain", "rain", "mm", 0.0, 10.0, {})]
    rule = '[[rules]]\nid="storm"\nkind="accumulation"\nquantity="rain"\nwindow_s=10800\n'
    (tmp_path / "r.toml").write_text(rule + "limit=50.0\nlevel=2\n")
    e = Engine(load_rules(["r.toml"], tmp_path), pts)
    # 0.5 mm a minute: 50 mm after 100 min; a gap of an hour adds nothing
    trs = feed(e, "rg-1/rain", [0.5] * 99, dt_s=60)
    assert trs == []
    (raised,) = feed(e, "rg-1/rain", [0.5], t0=T0 + 99 * 60_000 + 3_600_000)
    assert (raised.state, raised.level, raised.limit) == (AlarmState.RAISED, 2, 50.0)
    # dry: the storm leaves the 3 h window
    (cleared,) = feed(e, "rg-1/rain", [0.0] * 60, t0=T0 + 160 * 60_000, dt_s=60)
    assert cleared.state is AlarmState.CLEARED
    assert T0 + 3 * 3_600_000 <= cleared.ts_ms <= T0 + 3 * 3_600_000 + 10800_000 // 64 + 60_000


def test_a_slow_drop_at_one_reading_a_second_spans_the_whole_window(tmp_path: Path) -> None:
    # 0.0005 MPa/s for 300 s is a 0.15 drop: only visible if the window keeps 300 readings
    e = engine(tmp_path, '[[rules]]\nid="drop"\nkind="rate"\nquantity="pressure"\n'
               'direction="falling"\ndelta=0.1\nwindow_s=300\n')  # fmt: skip
    trs = feed(e, "pt-1/pressure", [0.6 - 0.0005 * i for i in range(300)], dt_s=1.0)
    assert states(trs) == [("raised", 4)]
    assert T0 + 200_000 <= trs[0].ts_ms <= T0 + 201_000  # 0.1 reached (to rounding)


def test_reload_carries_a_window_into_a_bigger_ring(tmp_path: Path) -> None:
    text = ('[[rules]]\nid="rise"\nkind="rate"\nquantity="level"\ndirection="rising"\n'
            "delta=0.3\nwindow_s=300\n")  # fmt: skip
    e = engine(tmp_path, text)
    assert feed(e, "lv-1/level", [0.5 + 0.001 * i for i in range(200)]) == []
    longer = (
        text
        + '\n[[rules]]\nid="other"\nkind="rate"\nquantity="level"\n'
        + ('direction="falling"\ndelta=1.0\nwindow_s=3000\n')
    )
    (tmp_path / "r.toml").write_text(longer)
    new, cleared = e.reload(load_rules(["r.toml"], tmp_path), T0 + 200_000)
    assert cleared == []
    assert new.tables["rate"].buf_ts.shape[1] > e.tables["rate"].buf_ts.shape[1]  # type: ignore[attr-defined]
    # the readings before the reload still count: 0.5 at t=0 is the window's minimum
    trs = feed(new, "lv-1/level", [0.7 + 0.002 * i for i in range(1, 101)], t0=T0 + 200_000)
    assert [(t.rule, str(t.state)) for t in trs] == [("rise", "raised")]
    assert trs[0].ts_ms <= T0 + 252_000
