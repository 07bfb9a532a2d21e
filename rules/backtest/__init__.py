"""Backtest: replay recorded readings through the same engine and kernels as the daemon.

    result = run_backtest(["water"], Path("readings.csv"), points_csv=Path("points.csv"),
                          out=Path("alarms.csv"))
    print(format_summary(result.summary))
    plot_backtest(result, Path("alarms.png"))        # rules.backtest.plot (matplotlib)

Data is a CSV `ts,point,value[,quality]` (ts in epoch ms or ISO 8601, point
`device/point`, quality good|uncertain|bad or 1|0), a columnar .npz (see
`read_npz`; `write_npz` converts), or columns the caller read itself and hands in
as `Readings` (`readings_from_columns`): a buffer.db is read by
edge_agent.store.query, as rules hold no SQL. Points come from a points.csv in the
format of shared/data/detection/*/points.csv (its `limits` JSON is merged into the
tags, so rules can use `rim_depth_m` and the like), from PointMeta objects the
caller builds (the gateway config), or, failing both, are inferred: quantity =
the point's own name (`pt-1/pressure` -> `pressure`), no unit, no range.

By stage:

    readings.py  Readings (the columns), readings_from_rows / readings_from_columns
    csvfile.py   read_csv (numba scanner csvscan.py, else the csv module), parse_ts
    npz.py       read_npz, write_npz
    data.py      read_data(path): CSV or .npz by suffix; is_database
    points.py    load_points_csv, infer_points
    replay.py    backtest(ruleset, points, readings): the engine over the samples
    report.py    BacktestResult, summarize, format_summary, write_alarms_csv
    run.py       run_backtest: all of the above, for `edge-agent rules backtest`
    plot.py      plot_backtest (not imported here: matplotlib is optional)
"""

from __future__ import annotations

from rules.backtest.csvfile import parse_ts, read_csv, read_csv_careful, read_csv_fast
from rules.backtest.data import DATABASE_SUFFIXES, is_database, read_data
from rules.backtest.npz import read_npz, write_npz
from rules.backtest.points import infer_points, load_points_csv
from rules.backtest.readings import (
    Readings,
    quality_good,
    readings_from_columns,
    readings_from_rows,
)
from rules.backtest.replay import Progress, backtest
from rules.backtest.report import (
    OUT_COLUMNS,
    BacktestResult,
    RuleSummary,
    format_not_assessing,
    format_summary,
    summarize,
    write_alarms_csv,
)
from rules.backtest.run import run_backtest

__all__ = [
    "DATABASE_SUFFIXES",
    "OUT_COLUMNS",
    "BacktestResult",
    "Progress",
    "Readings",
    "RuleSummary",
    "backtest",
    "format_not_assessing",
    "format_summary",
    "infer_points",
    "is_database",
    "load_points_csv",
    "parse_ts",
    "quality_good",
    "read_csv",
    "read_csv_careful",
    "read_csv_fast",
    "read_data",
    "read_npz",
    "readings_from_columns",
    "readings_from_rows",
    "run_backtest",
    "summarize",
    "write_alarms_csv",
    "write_npz",
]
