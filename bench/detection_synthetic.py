"""Detection power of the shipped water pack on a synthetic district (fieldsim.district).

    .venv/bin/python bench/detection_synthetic.py [--seeds 12] [--jobs 2] [--plot power.png]

Not `edge-agent rules evaluate` (a hydraulic model through wntr is not built yet): a
district whose inflow follows a daily shape with +-3 % day-to-day scatter and 1 % meter
noise, three pressure points of one zone switched by pumps twice a day. Per seed and event
size: 8 days to learn, then on day 9 a burst of that share of the inflow (3 h, at a random
minute between 00:00 and 24:00), or a night leak of that share of the 03:00 inflow from
01:40 on day 9. Every run goes through the same engine as `rules backtest`.

Scoring (as the detection README): a burst is detected when a process alarm (not
`water.health.*`) is raised between its start and its end + 30 min; delay = first such
raise - start. A leak is detected when one is raised within two nights of its start.
False alarms: process alarms raised on 10 normal days per seed after the 4-day cold start,
per sensor-day (4 sensors). Deterministic for a seed; runs on `--jobs` processes.
"""

from __future__ import annotations

import argparse
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from fieldsim.district import DAY_S, Incident, demand_m3h, district_rows, local_midnight_ms
from rules.backtest import readings_from_rows
from rules.backtest.replay import backtest
from rules.events import AlarmState, PointMeta
from rules.spec import load_rules

T0 = local_midnight_ms(1_700_000_000_000)
POINTS = [
    PointMeta("fm-in", "flow", "flow", "m3/h", 0.0, 5000.0, {"zone": "z"}, 60.0),
    *(PointMeta(f"pt-{i}", "pressure", "pressure", "MPa", 0.0, 1.6, {"zone": "z"}, 60.0)
      for i in (1, 2, 3)),
]  # fmt: skip
BURST_SIZES = (0.03, 0.05, 0.08, 0.12, 0.20)
LEAK_SIZES = (0.03, 0.05, 0.10, 0.20)
WARM_DAYS = 4


def process_raises(rows: list[tuple[int, str, float, int]]) -> list[int]:
    res = backtest(load_rules(["water"], Path(".")), POINTS, readings_from_rows(rows))
    process = [t for t in res.transitions if not t.rule.startswith("water.health")]
    return sorted(t.ts_ms for t in process if t.state is AlarmState.RAISED)


def burst_case(args: tuple[int, float]) -> float | None:
    """The delay (s) of the first raise for one burst, or None when it was missed."""
    seed, size = args
    rng = np.random.default_rng(1000 + seed)
    start = 8 * DAY_S + float(rng.integers(0, 1440)) * 60.0
    inc = Incident(start, burst_fraction=size)
    raises = process_raises(district_rows(T0, days=9.5, seed=seed, incident=inc))
    t_start, t_end = T0 + start * 1000, T0 + (start + inc.burst_s + 1800) * 1000
    hits = [t for t in raises if t_start <= t <= t_end]
    return (hits[0] - t_start) / 1000.0 if hits else None


def leak_case(args: tuple[int, float]) -> float | None:
    seed, size = args
    start = 8 * DAY_S + 100 * 60.0  # 01:40 local on day 9
    leak = size * demand_m3h(T0 / 1000 + 8 * DAY_S + 3 * 3600)
    raises = process_raises(district_rows(T0, days=11, seed=seed, incident=Incident(
        start, leak_m3h=leak)))  # fmt: skip
    t_start = T0 + start * 1000
    hits = [t for t in raises if t_start <= t <= t_start + 2 * DAY_S * 1000]
    return (hits[0] - t_start) / 1000.0 if hits else None


def normal_case(seed: int) -> int:
    raises = process_raises(district_rows(T0, days=10, seed=seed))
    return sum(1 for t in raises if t >= T0 + WARM_DAYS * DAY_S * 1000)


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=12)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--plot", type=Path)
    a = ap.parse_args()
    seeds = range(a.seeds)
    with ProcessPoolExecutor(a.jobs) as pool:
        bursts = {s: list(pool.map(burst_case, [(k, s) for k in seeds])) for s in BURST_SIZES}
        leaks = {s: list(pool.map(leak_case, [(k, s) for k in seeds])) for s in LEAK_SIZES}
        false = list(pool.map(normal_case, seeds))
    print(f"synthetic district, {a.seeds} seeds per size (bench/detection_synthetic.py)\n")
    print("| event | size (share of inflow) | detected | delay median | delay p90 |")
    print("|---|---|---|---|---|")
    for kind, table in (("burst", bursts), ("night leak", leaks)):
        for size, delays in table.items():
            got = [d for d in delays if d is not None]
            med = f"{statistics.median(got):.0f} s" if got else "-"
            p90 = f"{pct(got, 90):.0f} s" if got else "-"
            print(f"| {kind} | {size:.0%} | {len(got)}/{len(delays)} | {med} | {p90} |")
    sensor_days = a.seeds * (10 - WARM_DAYS) * len(POINTS)
    print(f"\nfalse process alarms: {sum(false)} in {sensor_days} sensor-days "
          f"({sum(false) / sensor_days:.3f} per sensor-day)")  # fmt: skip
    if a.plot is not None:
        import matplotlib  # optional: only to draw

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        for kind, table in (("burst", bursts), ("night leak", leaks)):
            xs = [100 * s for s in table]
            ys = [sum(d is not None for d in v) / len(v) for v in table.values()]
            ax.plot(xs, ys, marker="o", label=kind)
        ax.set_xlabel("event size, % of the inflow")
        ax.set_ylabel("detection rate")
        ax.set_ylim(0, 1.05)
        ax.legend()
        fig.tight_layout()
        fig.savefig(a.plot, dpi=110)
        print(f"plot written to {a.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
