"""Engine: alarm lifecycle, ids, ack, restore after restart, modes, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.engine import Engine
from rules.events import AlarmState, PointMeta
from rules.spec import load_rules

T0 = 1_700_000_000_000

POINTS = [
    PointMeta("pt-101", "pressure", "pressure", "MPa", 0.0, 1.6, {"zone": "dma-3"}),
    PointMeta("pt-102", "pressure", "pressure", "MPa", 0.0, 1.6, {"zone": "dma-4"}),
    PointMeta("gd-1", "methane", "methane_lel", "%LEL", 0.0, 100.0, {}),
]

RULES = """
[[rules]]
id = "p.low"
kind = "threshold"
quantity = "pressure"
direction = "below"
levels = [ { level = 3, limit = 0.20 }, { level = 1, limit = 0.10 } ]
hysteresis = 0.01

[[rules]]
id = "p.flood"
kind = "threshold"
points = ["pt-10*/pressure"]
direction = "above"
levels = [ { level = 2, limit = 1.0 } ]
modes = ["flood-season"]

[[overrides]]
rule = "p.low"
points = ["pt-102/*"]
levels = [ { level = 3, limit = 0.30 } ]
"""


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    (tmp_path / "r.toml").write_text(RULES)
    return Engine(load_rules(["r.toml", "gas"], tmp_path), POINTS)


def feed(engine: Engine, key: str, values: list[float], t0: int = T0, dt_ms: int = 1000):  # type: ignore[no-untyped-def]
    out = []
    for i, v in enumerate(values):
        out += engine.process(engine.index(key), t0 + i * dt_ms, v, 1)
    return out


def test_lifecycle_keeps_one_id_from_raise_to_clear(engine: Engine) -> None:
    trs = feed(engine, "pt-101/pressure", [0.3, 0.15, 0.05, 0.15, 0.25])
    assert [(t.state, t.level) for t in trs] == [
        (AlarmState.RAISED, 3), (AlarmState.LEVEL_CHANGED, 1),
        (AlarmState.LEVEL_CHANGED, 3), (AlarmState.CLEARED, 3),
    ]  # fmt: skip
    assert len({t.alarm_id for t in trs}) == 1
    first = trs[0]
    assert (first.device, first.point, first.rule, first.kind) == (
        "pt-101", "pressure", "p.low", "threshold"
    )  # fmt: skip
    assert (first.limit, first.unit, first.value, first.eta_s) == (0.20, "MPa", 0.15, None)
    assert engine.active() == []


def test_a_new_alarm_gets_a_new_id(engine: Engine) -> None:
    a = feed(engine, "pt-101/pressure", [0.15, 0.3])
    b = feed(engine, "pt-101/pressure", [0.15], t0=T0 + 10_000)
    assert a[0].alarm_id != b[0].alarm_id
    assert b[0].alarm_id > a[0].alarm_id  # ids sort by raise time


def test_override_wins_for_its_point_only(engine: Engine) -> None:
    assert feed(engine, "pt-101/pressure", [0.25]) == []
    trs = feed(engine, "pt-102/pressure", [0.25])
    assert [(t.state, t.limit) for t in trs] == [(AlarmState.RAISED, 0.30)]


def test_pack_rule_applies_to_its_quantity(engine: Engine) -> None:
    trs = feed(engine, "gd-1/methane", [0.0, 30.0])
    got = {(t.rule, t.level, t.unit) for t in trs}
    assert ("gas.methane_lel.high", 2, "%LEL") in got
    assert all(t.device == "gd-1" for t in trs)


def test_ack_keeps_the_alarm_active_until_it_clears(engine: Engine) -> None:
    (raised,) = feed(engine, "pt-101/pressure", [0.15])
    acked = engine.ack(raised.alarm_id, T0 + 500)
    assert acked is not None
    assert (acked.state, acked.alarm_id, acked.ts_ms) == (
        AlarmState.ACKED,
        raised.alarm_id,
        T0 + 500,
    )
    assert [t.state for t in engine.active()] == [AlarmState.ACKED]
    (cleared,) = feed(engine, "pt-101/pressure", [0.3], t0=T0 + 1000)
    assert (cleared.state, cleared.alarm_id) == (AlarmState.CLEARED, raised.alarm_id)
    assert engine.ack(raised.alarm_id, T0 + 2000) is None


def test_ack_of_unknown_id_is_none(engine: Engine) -> None:
    assert engine.ack("feedbeef", T0) is None


def test_restore_resumes_alarms_with_the_same_id(engine: Engine, tmp_path: Path) -> None:
    (raised,) = feed(engine, "pt-101/pressure", [0.15])
    engine.ack(raised.alarm_id, T0 + 1)
    stored = engine.active()
    fresh = Engine(engine.ruleset, POINTS)
    assert fresh.restore(stored) == []
    assert [(t.alarm_id, t.state) for t in fresh.active()] == [(raised.alarm_id, AlarmState.ACKED)]
    # still low: no duplicate raise; back up: cleared under the old id
    assert feed(fresh, "pt-101/pressure", [0.15], t0=T0 + 5000) == []
    (cleared,) = feed(fresh, "pt-101/pressure", [0.3], t0=T0 + 6000)
    assert (cleared.state, cleared.alarm_id) == (AlarmState.CLEARED, raised.alarm_id)


def test_restore_returns_alarms_it_cannot_resume_as_cleared(engine: Engine, tmp_path: Path) -> None:
    (raised,) = feed(engine, "pt-101/pressure", [0.15])
    (tmp_path / "other.toml").write_text(RULES.replace('"p.low"', '"p.lower"'))
    other = Engine(load_rules(["other.toml"], tmp_path), POINTS)
    (orphan,) = other.restore([raised])
    assert (orphan.state, orphan.alarm_id) == (AlarmState.CLEARED, raised.alarm_id)
    assert other.active() == []


def test_mode_gates_rules_and_clears_their_alarms(engine: Engine) -> None:
    assert feed(engine, "pt-101/pressure", [1.5]) == []
    assert engine.set_mode("flood-season", T0) == []
    (raised,) = feed(engine, "pt-101/pressure", [1.5], t0=T0 + 1000)
    assert raised.rule == "p.flood"
    (cleared,) = engine.set_mode("normal", T0 + 2000)
    assert (cleared.state, cleared.alarm_id, cleared.ts_ms) == (
        AlarmState.CLEARED, raised.alarm_id, T0 + 2000
    )  # fmt: skip
    assert engine.active() == []


def test_bad_quality_sample_changes_nothing(engine: Engine) -> None:
    assert engine.process(engine.index("pt-101/pressure"), T0, 0.01, 0) == []


def test_unknown_point_key_raises_key_error(engine: Engine) -> None:
    with pytest.raises(KeyError):
        engine.index("nope/nothing")


def test_an_escalation_takes_the_ack_back_and_can_be_acked_again(engine: Engine) -> None:
    (raised,) = feed(engine, "pt-101/pressure", [0.15])  # level 3
    assert engine.ack(raised.alarm_id, T0 + 500) is not None
    (worse,) = feed(engine, "pt-101/pressure", [0.05], t0=T0 + 1000)  # level 1, red
    assert (worse.state, worse.level, worse.alarm_id) == (
        AlarmState.LEVEL_CHANGED,
        1,
        raised.alarm_id,
    )
    assert [(t.state, t.level) for t in engine.active()] == [(AlarmState.LEVEL_CHANGED, 1)]
    again = engine.ack(raised.alarm_id, T0 + 1500)
    assert again is not None
    assert (again.state, again.level) == (AlarmState.ACKED, 1)
    # Back down to level 3: what was acknowledged at level 1 covers it.
    (better,) = feed(engine, "pt-101/pressure", [0.15], t0=T0 + 2000)
    assert better.level == 3
    assert [t.state for t in engine.active()] == [AlarmState.ACKED]
    assert engine.ack(raised.alarm_id, T0 + 2500) is None
