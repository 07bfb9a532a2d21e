"""run_backtest: rules, data and points in; every transition in the scoring format, the
summary, ticks through gaps; the water pack on the shared burst scenario."""

from __future__ import annotations

import csv
from pathlib import Path

from rules.backtest.report import OUT_COLUMNS, format_summary
from rules.backtest.run import run_backtest

DATA = Path(__file__).resolve().parents[3] / "data" / "detection"


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
    # lv-1 was bad at 00:02 and 00:03: at a 60 s step `after_s = 120` scales to 3 polls
    # (rules.sampling), so it is stale at 00:04
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


def test_points_are_inferred_without_a_points_file(case: Path) -> None:
    res = run_backtest(["r.toml"], case / "readings.csv", base_dir=case)
    assert "p.low" in {t.rule for t in res.transitions if t.state == "raised"}


def test_water_pack_finds_the_burst_within_a_minute_without_false_alarms(tmp_path: Path) -> None:
    d = DATA / "water_burst_main"
    res = run_backtest(["water"], d / "readings.csv", points_csv=d / "points.csv")
    health = {"flatline", "range", "stale", "drift", "spike"}  # as score_detection.py counts
    raised = [t for t in res.transitions if t.state == "raised" and t.kind not in health]
    burst_ts = 1772461020000
    assert raised
    assert all(burst_ts <= t.ts_ms <= burst_ts + 60_000 for t in raised)
