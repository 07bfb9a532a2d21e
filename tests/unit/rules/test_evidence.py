"""Every raised and level-changed alarm carries its evidence (PRODUCT.md "Alarm evidence")."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.engine import Engine
from rules.events import AlarmState, AlarmTransition, Evidence, PointMeta
from rules.spec import load_rules

T0 = 1_700_000_000_000
POINTS = [
    PointMeta(f"pt-{i}", "pressure", "pressure", "MPa", 0.0, 1.6, {"zone": "dma-3"}) for i in (1, 2)
]


def engine(tmp_path: Path, text: str) -> Engine:
    (tmp_path / "r.toml").write_text(text)
    return Engine(load_rules(["r.toml"], tmp_path), POINTS)


def replay(e: Engine, samples: list[tuple[float, str, float]]) -> list[AlarmTransition]:
    out: list[AlarmTransition] = []
    for t_s, key, v in samples:
        out += e.process(e.index(key), T0 + int(t_s * 1000), v, 1)
    return out


def test_a_rate_alarm_shows_the_drop_against_the_window_reference(tmp_path: Path) -> None:
    e = engine(tmp_path, '[[rules]]\nid="drop"\nkind="rate"\nquantity="pressure"\n'
               'direction="falling"\ndelta=0.05\nwindow_s=600\nlevel=2\n')  # fmt: skip
    (raised,) = replay(e, [(0, "pt-1/pressure", 0.50), (30, "pt-1/pressure", 0.52),
                           (60, "pt-1/pressure", 0.44)])  # fmt: skip
    ev = raised.evidence
    assert ev is not None
    assert ev.window_s == 600.0
    assert ev.baseline == pytest.approx(0.52)  # the window's highest, not the first reading
    assert ev.delta == pytest.approx(-0.08)  # a drop is negative, never an absolute value
    assert raised.limit == 0.05


def test_threshold_evidence_is_its_limit_on_delay_and_excess(tmp_path: Path) -> None:
    e = engine(tmp_path, '[[rules]]\nid="low"\nkind="threshold"\nquantity="pressure"\n'
               'direction="below"\nlevels=[{level=3, limit=0.2}, {level=1, limit=0.1}]\n'
               'on_delay_s=10\n')  # fmt: skip
    trs = replay(e, [(0, "pt-1/pressure", 0.15), (10, "pt-1/pressure", 0.15),
                     (20, "pt-1/pressure", 0.08), (30, "pt-1/pressure", 0.08)])  # fmt: skip
    raised, changed = trs
    assert (raised.state, changed.state) == (AlarmState.RAISED, AlarmState.LEVEL_CHANGED)
    assert raised.evidence == Evidence(window_s=10.0, baseline=0.2, delta=pytest.approx(-0.05))
    assert changed.evidence is not None
    assert (changed.evidence.baseline, changed.evidence.delta) == (0.1, pytest.approx(-0.02))


def test_a_trend_alarm_carries_its_fit_slope_and_eta(tmp_path: Path) -> None:
    e = engine(tmp_path, '[[rules]]\nid="eta"\nkind="trend"\nquantity="pressure"\n'
               'direction="above"\nlimit=1.0\nwindow_s=300\nhorizon_s=3600\nlevel=2\n')  # fmt: skip
    rise = [(t, "pt-1/pressure", 0.2 + 0.001 * t + (0.0005 if t % 20 else 0.0))
            for t in range(0, 300, 10)]  # fmt: skip
    raised = next(t for t in replay(e, rise) if t.state is AlarmState.RAISED)
    ev = raised.evidence
    assert ev is not None
    assert ev.slope is not None
    assert ev.eta_s is not None
    assert ev.window_s == 300.0
    assert ev.slope == pytest.approx(0.001, rel=0.05)
    assert ev.eta_s == raised.eta_s
    assert ev.baseline == pytest.approx(raised.value, abs=0.002)  # the fit's value now


def test_a_composite_names_its_members_with_their_own_values_and_times(tmp_path: Path) -> None:
    e = Engine(load_rules(["water"], tmp_path), POINTS)
    flat = [(t, f"pt-{i}/pressure", 0.40) for t in range(0, 120, 10) for i in (1, 2)]
    drop = [(130, "pt-1/pressure", 0.30), (140, "pt-2/pressure", 0.29)]
    (burst,) = [t for t in replay(e, flat + drop) if t.rule == "water.burst"]
    ev = burst.evidence
    assert ev is not None
    assert ev.window_s == 300.0
    assert [(m.device, m.ts_ms, m.value) for m in ev.members] == [
        ("pt-1", T0 + 130_000, 0.30), ("pt-2", T0 + 140_000, 0.29)
    ]  # fmt: skip
    assert [m.delta for m in ev.members] == [pytest.approx(-0.10), pytest.approx(-0.11)]
    assert ev.delta == pytest.approx(-0.11)  # the deciding member's drop


def test_cleared_transitions_carry_no_evidence(tmp_path: Path) -> None:
    e = engine(tmp_path, '[[rules]]\nid="low"\nkind="threshold"\nquantity="pressure"\n'
               'direction="below"\nlevels=[{level=3, limit=0.2}]\n')  # fmt: skip
    raised, cleared = replay(e, [(0, "pt-1/pressure", 0.1), (10, "pt-1/pressure", 0.3)])
    assert raised.evidence is not None
    assert cleared.state is AlarmState.CLEARED
    assert cleared.evidence is None


def test_evidence_round_trips_through_plain_data() -> None:
    ev = Evidence.of(window_s=60.0, baseline=float("nan"), delta=-0.1, note="cold start")
    assert ev.baseline is None
    assert Evidence.from_dict(ev.to_dict()) == ev
