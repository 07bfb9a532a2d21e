"""`edge-agent rules backtest`: replaying a CSV through rule files."""

from __future__ import annotations

from pathlib import Path

from tests.unit.edge_agent.cli.support import edge_agent


def test_rules_backtest_writes_alarms_and_summary(tmp_path: Path) -> None:
    rules = tmp_path / "low.toml"
    rules.write_text(
        '[[rules]]\nid = "t.low"\nkind = "threshold"\nquantity = "pressure"\n'
        'direction = "below"\nlevels = [ { level = 3, limit = 0.2 } ]\n'
    )
    data = tmp_path / "readings.csv"
    rows = ["ts,point,value"]
    for i in range(120):  # one sample a minute; below the limit from minute 60 to 89
        value = 0.12 if 60 <= i < 90 else 0.35
        rows.append(f"{1_700_000_000_000 + i * 60_000},pt-1/pressure,{value}")
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "alarms.csv"
    r = edge_agent(
        "rules", "backtest", "--rules", str(rules), "--data", str(data), "--out", str(out)
    )
    assert r.returncode == 0, r.stderr
    assert "t.low" in r.stdout
    lines = out.read_text().splitlines()
    assert lines[0].startswith("ts,point,rule,kind,level,state,value,limit,window_s,baseline")
    states = [line.split(",")[5] for line in lines[1:]]
    assert states == ["raised", "cleared"]
    # the raise carries its evidence: the limit it went below, and the excess
    raised = dict(zip(lines[0].split(","), lines[1].split(","), strict=True))
    assert float(raised["baseline"]) == float(raised["limit"])
    assert float(raised["delta"]) < 0
    assert lines[1].split(",")[0] == str(1_700_000_000_000 + 60 * 60_000)

    r = edge_agent("rules", "backtest", "--rules", "water", "--data", str(tmp_path / "nope.csv"))
    assert r.returncode == 1
    assert "nope.csv" in r.stderr
    assert "Traceback" not in r.stderr


def test_rules_check_states_a_baselines_cold_start_and_refuses_a_slow_poll(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "b.toml"
    rules.write_text(
        '[[rules]]\nid = "flow.high"\nkind = "baseline"\nquantity = "flow"\n'
        'direction = "above"\nmin_days = 3\ncold_limit = 900\n'
        '[[rules]]\nid = "flow.jump"\nkind = "rate"\nquantity = "flow"\n'
        'direction = "rising"\ndelta = 50\nwindow_s = 300\n'
    )
    r = edge_agent("rules", "check", str(rules))
    assert r.returncode == 0, r.stderr
    assert "note: rule flow.high (baseline) learns" in r.stdout
    assert "after 3 days learned; cold_limit = 900 decides meanwhile" in r.stdout
    r = edge_agent("rules", "check", str(rules), "--poll-s", "1800")
    assert r.returncode == 1
    assert "rule flow.jump (rate): window_s = 300 s never holds two readings" in r.stderr
    assert "flow.high" not in r.stderr
