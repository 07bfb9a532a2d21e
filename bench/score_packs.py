"""Backtest the shipped packs on detection scenarios and, with a scorer, score them.

    .venv/bin/python bench/score_packs.py --data DIR [--scorer score_detection.py] [--plots]

DIR holds one folder per scenario (readings.csv, points.csv, events.csv);
tests/data/detection has water_burst_main complete. For each scenario found:
replay readings.csv through the packs with points.csv, write alarms.csv (and a
plot), then run the scorer on it when one is given.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rules.backtest import format_summary, run_backtest
from rules.backtest.plot import plot_backtest

SCENARIOS = {
    "water_burst_main": (["water"], 24.0),
    "drain_storm_p5": (["drainage"], 13.5),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("tests/data/detection"))
    ap.add_argument("--scorer", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "edge-agent-score")
    ap.add_argument("--plots", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (packs, sensor_days) in SCENARIOS.items():
        d = args.data / name
        if not (d / "readings.csv").exists():
            print(f"== {name}: not in {args.data}, skipped")
            continue
        alarms = args.out / f"{name}.alarms.csv"
        t0 = time.perf_counter()
        res = run_backtest(packs, d / "readings.csv", points_csv=d / "points.csv", out=alarms)
        if args.plots:
            plot_backtest(res, args.out / f"{name}.png")
        dt = time.perf_counter() - t0
        print(f"== {name}: {res.samples} samples, {len(res.transitions)} transitions, {dt:.2f} s")
        print(format_summary(res.summary))
        if args.scorer is None:
            continue
        subprocess.run(
            [sys.executable, str(args.scorer), str(alarms), str(d / "events.csv"),
             "--sensor-days", str(sensor_days)],
            check=True,
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
