"""Trend predictions at fast polls: sensor noise over a few seconds is not a trend.

At a 1 s poll four samples span 3 s, and 3 mm of level noise (0.2 %LEL of
methane) over 3 s is a slope that reaches any limit within the horizon. The
shipped packs' trend rules must stay quiet on such flat noisy series, from the
first sample on (a restart), and still predict a real rise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rules.engine import Engine
from rules.events import AlarmState, AlarmTransition, PointMeta
from rules.spec import load_rules

T0 = 1_700_000_000_000
LEVEL = PointMeta(
    "mh-1", "level", "level", "m", 0.0, 5.0, {"pipe_crown_m": "1.0", "rim_depth_m": "2.6"}
)
METHANE = PointMeta("gd-1", "methane_lel", "methane_lel", "%LEL", 0.0, 100.0, {})
ETA_RULES = {"drain.level.surcharge-eta", "drain.level.overflow-eta", "gas.methane_lel.eta"}


def replay(
    tmp_path: Path, point: PointMeta, values: np.ndarray, dt_s: float
) -> list[AlarmTransition]:
    e = Engine(load_rules(["drainage", "gas"], tmp_path), [point])
    b = e.index(f"{point.device}/{point.point}")
    out: list[AlarmTransition] = []
    for i, v in enumerate(values):
        out += e.process(b, T0 + round(i * dt_s * 1000), float(v), 1)
    return [t for t in out if t.rule in ETA_RULES]


@pytest.mark.parametrize(
    ("point", "base", "noise"),
    [(LEVEL, 0.35, 0.003), (METHANE, 2.0, 0.2)],
    ids=["level", "methane"],
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_flat_noisy_series_polled_every_second_raises_no_trend_alarm(
    tmp_path: Path, point: PointMeta, base: float, noise: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    # an hour at 1 s, quantized as the int16 registers report it (mm, 0.01 %LEL)
    values = np.round(base + noise * rng.standard_normal(3600), 3 if point is LEVEL else 2)
    assert replay(tmp_path, point, values, dt_s=1.0) == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_real_rise_polled_every_second_is_still_predicted(tmp_path: Path, seed: int) -> None:
    # flat 10 min, then rising 1.2 m/h with the same 3 mm noise: the crown (1.0 m) is 30 min away
    rng = np.random.default_rng(seed)
    t = np.arange(3600.0)
    level = (
        0.4 + np.where(t < 600, 0.0, (t - 600) * 1.2 / 3600) + 0.003 * rng.standard_normal(t.size)
    )
    trs = replay(tmp_path, LEVEL, level, dt_s=1.0)
    surcharge = [x for x in trs if x.rule == "drain.level.surcharge-eta"]
    assert surcharge
    assert surcharge[0].state is AlarmState.RAISED
    raised_s = (surcharge[0].ts_ms - T0) / 1000
    crown_s = 600 + (1.0 - 0.4) / 1.2 * 3600  # when the level reaches the crown
    assert crown_s - raised_s >= 15 * 60  # at least 15 min of warning
    # the 10 min fit still straddles the knee, so the eta is late, but within the horizon
    assert surcharge[0].eta_s is not None
    assert crown_s - raised_s <= surcharge[0].eta_s <= 1800


def test_a_real_rise_polled_every_minute_is_still_predicted(tmp_path: Path) -> None:
    level = 0.4 + np.array([0.0] * 10 + [0.02 * i for i in range(40)])  # 1.2 m/h from minute 10
    # the crown (1.0 m) is reached at minute 40
    trs = replay(tmp_path, LEVEL, level, dt_s=60.0)
    surcharge = [x for x in trs if x.rule == "drain.level.surcharge-eta"]
    assert surcharge
    assert surcharge[0].state is AlarmState.RAISED
    assert (surcharge[0].ts_ms - T0) / 60_000 <= 40 - 15  # >= 15 min before the crown
