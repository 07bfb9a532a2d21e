"""Inject sensor faults into detection scenarios and list what the packs raise.

    .venv/bin/python bench/fault_check.py --data DIR   (scenario folders, complete)

Faults (outside the scenarios' process events): a value stuck for 2 h, a
dropout of 1 h, spikes every 15 min for an hour (up, then down to the floor),
a slow drift, and an over-range reading. Health rules should catch the
first four kinds of the list they cover; no process rule should fire on any.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

from rules.backtest import run_backtest

H = 3_600_000
PROCESS = {"threshold", "rate", "trend", "composite"}


def inject(rows: list[dict[str, str]], t0: int, faults: dict[str, tuple[str, str, int, int]]
           ) -> list[tuple[int, str, float]]:  # fmt: skip
    out: list[tuple[int, str, float]] = []
    stuck: dict[str, float] = {}
    for r in rows:
        ts, p, v = int(r["ts"]), r["point"], float(r["value"])
        for name, (kind, point, a, b) in faults.items():
            if p != point or not t0 + a * H <= ts < t0 + b * H:
                continue
            if kind == "stuck":
                v = stuck.setdefault(name, v)
            elif kind == "dropout":
                v = float("nan")
            elif kind == "spikes" and (ts // 60_000) % 15 == 0:
                v = v + 0.8 if (ts // 60_000) % 30 == 0 else 0.0
            elif kind == "drift":
                v += 0.1 * (ts - t0 - a * H) / ((b - a) * H)
            elif kind == "over-range":
                v = 9999.0
        if v == v:
            out.append((ts, p, v))
    return out


SCENARIOS = {
    "water_burst_main": (["water"], 1772380800000, {
        "stuck": ("stuck", "pt-15/pressure", 3, 5),
        "dropout": ("dropout", "pt-35/pressure", 6, 7),
        "spikes": ("spikes", "pt-101/pressure", 8, 9),
        "drift": ("drift", "pt-147/pressure", 26, 32),
        "over-range": ("over-range", "fm-lake/flow", 34, 35),
    }),
    "drain_storm_p5": (["drainage"], 1784044800000, {
        "stuck": ("stuck", "lv-j1/level", 2, 5),
        "dropout": ("dropout", "lv-j2/level", 6, 7),
        "spikes": ("spikes", "lv-j3/level", 8, 9),
        "drift": ("drift", "lv-j4/level", 20, 26),
        "over-range": ("over-range", "lv-j5/level", 30, 31),
    }),
}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="edge-agent-faults-"))
    for name, (packs, t0, faults) in SCENARIOS.items():
        src = args.data / name
        with (src / "readings.csv").open() as f:
            rows = list(csv.DictReader(f))
        data = tmp / f"{name}.csv"
        with data.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["ts", "point", "value"])
            w.writerows(inject(rows, t0, faults))
        res = run_backtest(packs, data, points_csv=src / "points.csv")
        print(f"== {name}")
        for fault, (_, point, a, b) in faults.items():
            lo, hi = t0 + a * H, t0 + b * H + H
            hits = [
                t for t in res.transitions
                if t.state == "raised" and f"{t.device}/{t.point}" == point and lo <= t.ts_ms <= hi
            ]  # fmt: skip
            got = ", ".join(f"{t.rule} (+{(t.ts_ms - t0 - a * H) / 60000:.0f} min)" for t in hits)
            print(f"  {fault:<10} {point:<18} {got or 'not detected'}")
            bad = [t for t in hits if t.kind in PROCESS]
            if bad:
                print(f"    ! process alarms on a sensor fault: {[t.rule for t in bad]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
