"""A small replay case: rules, points.csv and ten minutes of readings in a tmp dir."""

from __future__ import annotations

from pathlib import Path

import pytest

RULES = """
[[rules]]
id = "p.low"
kind = "threshold"
quantity = "pressure"
direction = "below"
levels = [ { level = 3, limit = 0.20 } ]

[[rules]]
id = "lv.crown"
kind = "threshold"
quantity = "level"
relative_to = "pipe_crown_m"
direction = "above"
levels = [ { level = 4, limit = 0.0 } ]

[[rules]]
id = "silent"
kind = "stale"
points = ["*/*"]
after_s = 120
"""

POINTS_CSV = (
    "point,quantity,unit,range_lo,range_hi,source,noise_sd,quantum,tags,limits\n"
    'pt-1/pressure,pressure,MPa,0.0,1.6,x,0.001,0.001,"{""zone"": ""a""}","{}"\n'
    'lv-1/level,level,m,0.0,3.0,x,0.003,0.001,"{""zone"": ""a""}","{""pipe_crown_m"": 0.8}"\n'
)


@pytest.fixture
def case(tmp_path: Path) -> Path:
    (tmp_path / "r.toml").write_text(RULES)
    (tmp_path / "points.csv").write_text(POINTS_CSV)
    rows = ["ts,point,value,quality"]
    for m in range(10):
        ts = f"2026-03-01T00:{m:02d}:00Z"
        rows.append(f"{ts},pt-1/pressure,{0.15 if 3 <= m < 6 else 0.3},good")
        rows.append(f"{ts},lv-1/level,{0.9 if m >= 8 else 0.5},{'bad' if m in (2, 3) else 'good'}")
        rows.append(f"{ts},xx-9/unknown,1.0,")
    (tmp_path / "readings.csv").write_text("\n".join(rows) + "\n")
    return tmp_path
