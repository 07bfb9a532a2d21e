"""`run_backtest`: what `edge-agent rules backtest` does, from rule refs and data to a result
(and the alarms CSV). Drawing the result is the caller's: rules.backtest.plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rules.backtest.actions import plan_actions
from rules.backtest.data import read_data
from rules.backtest.points import infer_points, load_points_csv
from rules.backtest.readings import Readings
from rules.backtest.replay import Progress, backtest
from rules.backtest.report import BacktestResult, write_alarms_csv
from rules.events import PointMeta
from rules.spec import load_rules


def run_backtest(
    rule_refs: Sequence[str | Path],
    data: Path | Readings,
    *,
    base_dir: Path | None = None,
    points: Sequence[PointMeta] | None = None,
    points_csv: Path | None = None,
    out: Path | None = None,
    mode: str = "normal",
    tick_s: float = 10.0,
    progress: Progress | None = None,
) -> BacktestResult:
    """Load the rules, read `data` (a CSV or .npz path, or Readings the caller built, as
    from a buffer.db), replay it, and write every transition to `out` if given.

    Points: `points` (PointMeta from a gateway config), else `points_csv`, else inferred
    from the data's keys.
    """
    ruleset = load_rules(rule_refs, base_dir or Path.cwd())
    readings = data if isinstance(data, Readings) else read_data(data)
    if points is None:
        points = load_points_csv(points_csv) if points_csv else infer_points(readings.keys)
    result = backtest(ruleset, points, readings, mode=mode, tick_s=tick_s, progress=progress)
    result.actions = plan_actions(ruleset, result.transitions, points, mode)
    if out is not None:
        write_alarms_csv(result.transitions, out)
    return result
