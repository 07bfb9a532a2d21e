"""Backtest: reading CSV and buffer.db, points.csv, the alarms CSV, summary and plot."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from rules.backtest import (
    OUT_COLUMNS,
    format_summary,
    load_points_csv,
    read_buffer_db,
    read_csv,
    run_backtest,
)
from rules.errors import RuleError

SHARED = Path("/work/shared/data/detection")

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
        rows.append(f"{ts},lv-1/level,{0.9 if m >= 8 else 0.5},{'bad' if m == 2 else 'good'}")
        rows.append(f"{ts},xx-9/unknown,1.0,")
    (tmp_path / "readings.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def test_backtest_writes_every_transition_in_the_scoring_format(case: Path) -> None:
    out = case / "alarms.csv"
    res = run_backtest(["r.toml"], case / "readings.csv", base_dir=case,
                       points_csv=case / "points.csv", out=out)  # fmt: skip
    assert res.samples == 20
    assert res.skipped == 10
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == OUT_COLUMNS
    got = [(r["point"], r["rule"], r["state"], r["level"]) for r in rows if r["rule"] != "silent"]
    # lv-1 was bad at 00:02: 120 s without a good reading makes it stale at 00:03
    assert ("lv-1/level", "silent", "raised", "4") in [
        (r["point"], r["rule"], r["state"], r["level"]) for r in rows
    ]
    assert got == [
        ("pt-1/pressure", "p.low", "raised", "3"),
        ("pt-1/pressure", "p.low", "cleared", "3"),
        ("lv-1/level", "lv.crown", "raised", "4"),
    ]
    assert int(rows[0]["ts"]) == 1772323380000  # 2026-03-01T00:03:00Z
    summary = {s.rule: s for s in res.summary}
    assert summary["p.low"].alarms == 1
    assert summary["p.low"].time_in_alarm_s == 180.0
    assert summary["lv.crown"].time_in_alarm_s == 60.0  # still open at the end of the data
    assert "p.low" in format_summary(res.summary)


def test_backtest_ticks_through_gaps(case: Path) -> None:
    rows = "ts,point,value\n0,pt-1/pressure,0.3\n600000,pt-1/pressure,0.3\n"
    (case / "gap.csv").write_text(rows)
    res = run_backtest(["r.toml"], case / "gap.csv", base_dir=case, points_csv=case / "points.csv")
    got = [(t.device, str(t.state), t.ts_ms) for t in res.transitions if t.rule == "silent"]
    # both points raised 120 s in (lv-1 never reports); pt-1 clears with its next reading
    assert ("pt-1", "raised", 120_000) in got
    assert ("lv-1", "raised", 120_000) in got
    assert ("pt-1", "cleared", 600_000) in got


def test_backtest_plot_is_drawn(case: Path) -> None:
    png = case / "plot.png"
    run_backtest(["r.toml"], case / "readings.csv", base_dir=case,
                 points_csv=case / "points.csv", plot=png)  # fmt: skip
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_points_csv_limits_become_tags(case: Path) -> None:
    pts = {p.key: p for p in load_points_csv(case / "points.csv")}
    assert pts["lv-1/level"].tags == {"zone": "a", "pipe_crown_m": "0.8"}
    assert (pts["pt-1/pressure"].range_hi, pts["pt-1/pressure"].unit) == (1.6, "MPa")


def test_points_are_inferred_without_a_points_file(case: Path) -> None:
    res = run_backtest(["r.toml"], case / "readings.csv", base_dir=case)
    assert "p.low" in {t.rule for t in res.transitions if t.state == "raised"}


def test_bad_row_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("ts,point,value\n0,a/b,1.0\nyesterday,a/b,2.0\n")
    with pytest.raises(RuleError) as info:
        read_csv(tmp_path / "bad.csv")
    assert info.value.problems[0].loc == "line 3"


def test_missing_columns_are_reported(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("time,sensor,reading\n")
    with pytest.raises(RuleError, match="missing columns"):
        read_csv(tmp_path / "bad.csv")


def test_buffer_db_readings(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE readings (ts_ms INTEGER, device TEXT, point TEXT, value REAL, "
                "quality TEXT)")  # fmt: skip
    rows = [(2000, "pt-1", "pressure", 0.1, "good"), (1000, "pt-1", "pressure", None, "bad")]
    con.executemany("INSERT INTO readings VALUES (?,?,?,?,?)", rows)
    con.commit()
    con.close()
    r = read_buffer_db(db)
    assert r.keys == ["pt-1/pressure"]
    assert r.ts_ms.tolist() == [1000, 2000]
    assert r.good.tolist() == [0, 1]


def test_water_pack_finds_the_burst_within_a_minute_without_false_alarms(tmp_path: Path) -> None:
    # CI clones the repo with shared/ beside it; a missing folder is a broken checkout.
    assert SHARED.is_dir(), f"the shared detection data is missing: {SHARED}"
    d = SHARED / "water_burst_main"
    res = run_backtest(["water"], d / "readings.csv", points_csv=d / "points.csv")
    health = {"flatline", "range", "stale", "drift", "spike"}  # as score_detection.py counts
    raised = [t for t in res.transitions if t.state == "raised" and t.kind not in health]
    burst_ts = 1772461020000
    assert raised
    assert all(burst_ts <= t.ts_ms <= burst_ts + 60_000 for t in raised)
