"""What an alarm event's value, limit and unit say (docs/rules.md, "What an alarm carries")."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.engine import Engine
from rules.events import AlarmState, AlarmTransition, PointMeta
from rules.spec import load_rules

T0 = 1_700_000_000_000
POINTS = [
    PointMeta(f"pt-{i}", "pressure", "pressure", "MPa", 0.0, 1.6, {"zone": "dma-3"}) for i in (1, 2)
]


def replay(e: Engine, samples: list[tuple[int, str, float]]) -> list[AlarmTransition]:
    out: list[AlarmTransition] = []
    for t_s, key, v in samples:
        out += e.process(e.index(key), T0 + t_s * 1000, v, 1)
    return out


def test_water_burst_carries_the_deciding_members_reading_and_delta(tmp_path: Path) -> None:
    e = Engine(load_rules(["water"], tmp_path), POINTS)
    flat = [(t, f"pt-{i}/pressure", 0.40) for t in range(0, 120, 10) for i in (1, 2)]
    # both points drop 0.1 MPa within a minute: the second drop completes the burst
    drop = [(130, "pt-1/pressure", 0.30), (140, "pt-2/pressure", 0.29)]
    trs = [t for t in replay(e, flat + drop) if t.state is AlarmState.RAISED]
    (burst,) = [t for t in trs if t.rule == "water.burst"]
    assert (burst.kind, burst.device, burst.unit) == ("composite", "pt-2", "MPa")
    assert burst.value == pytest.approx(0.29)  # the reading, in MPa
    assert burst.limit == pytest.approx(0.07)  # water.pressure.drop's delta, in MPa
    assert burst.limit != 300.0  # not the composite's (or the member's) window_s
    assert burst.eta_s is None


def test_rate_alarm_limit_is_its_delta_and_value_the_reading(tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text(
        '[[rules]]\nid="drop"\nkind="rate"\nquantity="pressure"\ndirection="falling"\n'
        "delta=0.05\nwindow_s=600\nlevel=2\n"
    )
    e = Engine(load_rules(["r.toml"], tmp_path), POINTS)
    (raised,) = replay(e, [(0, "pt-1/pressure", 0.50), (60, "pt-1/pressure", 0.42)])
    assert (raised.rule, raised.unit) == ("drop", "MPa")
    assert (raised.value, raised.limit) == (0.42, 0.05)
