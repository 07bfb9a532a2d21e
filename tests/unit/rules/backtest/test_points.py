"""Points of a replay from a points.csv: `limits` join the tags, range and unit are read."""

from __future__ import annotations

from pathlib import Path

from rules.backtest.points import load_points_csv


def test_points_csv_limits_become_tags(case: Path) -> None:
    pts = {p.key: p for p in load_points_csv(case / "points.csv")}
    assert pts["lv-1/level"].tags == {"zone": "a", "pipe_crown_m": "0.8"}
    assert (pts["pt-1/pressure"].range_hi, pts["pt-1/pressure"].unit) == (1.6, "MPa")
