"""The backtest plot: the CLI draws run_backtest's result."""

from __future__ import annotations

from pathlib import Path

from rules.backtest.plot import plot_backtest
from rules.backtest.run import run_backtest


def test_backtest_plot_is_drawn(case: Path) -> None:
    png = case / "plot.png"
    res = run_backtest(["r.toml"], case / "readings.csv", base_dir=case,
                       points_csv=case / "points.csv")  # fmt: skip
    plot_backtest(res, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
