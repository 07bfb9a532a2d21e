"""Kernel throughput: point-updates per second, numba kernel vs plain-Python reference.

    .venv/bin/python bench/kernels.py [--points 1000] [--samples 2000000] [--ref-samples 20000]

A point-update is one sample applied to one (rule, point) binding. Each kind
runs over `--points` bindings on a stream of 1-minute samples with noise,
NaNs (0.3 %) and bad quality (0.3 %), in batches of 65,536 as the backtest
does. The reference runs a shorter stream (it is ~1000x slower). Also: a
NumPy version of the threshold where it is natural (levels without delays
or hysteresis, which NumPy cannot carry), the whole engine on all three packs
(samples/s, what a backtest sees), and the engine's warm start in a fresh
process (numba cache present). Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import copy
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rules.compile import Binding
from rules.events import PointMeta
from rules.pairs import PAIRS
from rules.spec import RULE_KINDS, load_rules
from rules.tables import SAMPLE_TABLES, KindTable
from rules.warmup import warm_up

BATCH = 65_536
RULES = {
    "threshold": {"direction": "above", "hysteresis": 0.01, "on_delay_s": 60,
                  "off_delay_s": 300,
                  "levels": [{"level": 3, "limit": 0.6}, {"level": 1, "limit": 0.7}]},
    "rate": {"direction": "falling", "delta": 0.08, "window_s": 300, "despike": True},
    "trend": {"direction": "above", "limit": 0.8, "window_s": 600, "horizon_s": 1800,
              "despike": True},
    "accumulation": {"window_s": 10800, "limit": 50.0},
    "night_flow": {"rise_abs": 0.002},
    "flatline": {"epsilon": 0.0, "duration_s": 7200},
    "spike": {"min_delta": 0.01, "count": 3},
    "range": {},
    "stale": {"after_s": 300},
    "drift": {"warmup": 30, "sigma_min": 0.001},
    "drift-peers": {"warmup": 30, "sigma_min": 0.001, "against": "peers"},
    "baseline": {"direction": "below", "n_sigma": 4, "min_delta": 0.01, "min_days": 1},
    "baseline-peers": {"direction": "below", "n_sigma": 4, "min_delta": 0.01, "min_days": 1,
                       "against": "peers"},
}  # fmt: skip


def stream(n_points: int, n_samples: int, seed: int = 1) -> tuple[np.ndarray, ...]:
    """Round-robin 1-minute samples of n_points pressures around 0.5 with noise and faults."""
    rng = np.random.default_rng(seed)
    bind = np.arange(n_samples, dtype=np.int64) % n_points
    ts = 1_700_000_000_000 + (np.arange(n_samples, dtype=np.int64) // n_points) * 60_000
    value = 0.5 + 0.05 * np.sin(ts / 3.6e6) + rng.normal(0, 0.002, n_samples)
    value[rng.random(n_samples) < 0.003] = np.nan
    good = (rng.random(n_samples) >= 0.003).astype(np.int8)
    return bind, ts, value, good


def table(name: str, n_points: int) -> KindTable:
    """n_points bindings of one rule; peers come in zones of 8 points (a drift-peers rule)."""
    kind = name.split("-")[0]
    metas = [PointMeta(f"d{i}", "p", "pressure", "MPa", 0.0, 1.6, {"zone": str(i // 8)})
             for i in range(n_points)]  # fmt: skip
    peers = name.endswith("-peers")
    params = {**RULES[name], **({"peers_scope": "zone"} if peers else {})}
    rule = RULE_KINDS[kind].model_validate({"id": name, "kind": kind, "points": ["*"], **params})
    return SAMPLE_TABLES[kind]([Binding(rule, i) for i in range(n_points)], metas)


def rate_of(fn: Callable[[], None], updates: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return updates / best


def run_all(t: KindTable, data: tuple[np.ndarray, ...]) -> None:
    bind, ts, value, good = data
    for i in range(0, bind.shape[0], BATCH):
        j = i + BATCH
        t.run(bind[i:j], ts[i:j], value[i:j], good[i:j])


def numpy_threshold(value: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """Level per sample, most severe first, no delays or hysteresis: the NumPy-natural part."""
    level = np.zeros(value.shape[0], dtype=np.int8)
    for lvl in (4, 3, 2, 1):
        lim = limits[lvl - 1]
        if not np.isnan(lim):
            level[value >= lim] = lvl
    return level


def engine_rate(n_points: int, n_samples: int) -> tuple[float, int]:
    from rules.engine import Engine

    rs = load_rules(["gas", "water", "drainage"], Path.cwd())
    quantities = ["pressure", "flow", "level", "methane_lel"]
    tags = {"zone": "z1", "rim_depth_m": "3.0", "pipe_crown_m": "1.0", "pn_mpa": "0.4"}
    points = [PointMeta(f"d{i}", quantities[i % 4], quantities[i % 4], "", 0.0, 100.0, tags)
              for i in range(n_points)]  # fmt: skip
    engine = Engine(rs, points)
    n_bind = sum(t.n for t in engine.tables.values())
    bind, ts, value, good = stream(n_points, n_samples)

    def go() -> None:
        for i in range(0, n_samples, BATCH):
            j = i + BATCH
            engine.process_batch(bind[i:j], ts[i:j], value[i:j], good[i:j])

    return rate_of(go, n_samples, repeat=1), n_bind


def warm_start_s() -> float:
    code = ("import time; t=time.perf_counter(); from rules.warmup import warm_up; warm_up(); "
            "print(time.perf_counter()-t)")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # fill cache
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=2_000_000)
    ap.add_argument("--ref-samples", type=int, default=20_000)
    ap.add_argument("--engine-samples", type=int, default=1_000_000)
    args = ap.parse_args()
    warm_up()
    data = stream(args.points, args.samples)
    small = tuple(a[: args.ref_samples] for a in data)
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, {args.points} bindings\n")  # fmt: skip
    print("| kernel | numba (M updates/s) | reference (k updates/s) | speed-up |")
    print("|---|---:|---:|---:|")
    for kind in RULES:
        fast = table(kind, args.points)
        slow = copy.deepcopy(fast)
        slow.step = PAIRS[f"{kind.split('-')[0]}.step"][1]  # type: ignore[misc]
        if kind == "drift-peers":
            slow.residual = PAIRS["peers.residual"][1]  # type: ignore[attr-defined]
        k = rate_of(lambda t=fast: run_all(t, data), args.samples)
        r = rate_of(lambda t=slow: run_all(t, small), args.ref_samples, repeat=1)
        print(f"| {kind} | {k / 1e6:.1f} | {r / 1e3:.1f} | {k / r:,.0f}x |")
    thr = table("threshold", args.points)
    limits = thr.limits[0]  # type: ignore[attr-defined]

    def np_run() -> None:
        numpy_threshold(data[2], limits)

    npr = rate_of(np_run, args.samples)
    print(f"\nNumPy threshold (levels only, no delays/hysteresis): {npr / 1e6:.1f} M updates/s")
    eng, n_bind = engine_rate(args.points, args.engine_samples)
    per = n_bind / args.points
    print(f"Engine, all three packs, {args.points} points ({n_bind} bindings, {per:.1f}/point): "
          f"{eng / 1e6:.2f} M samples/s = {eng * per / 1e6:.1f} M updates/s; "
          f"525 M samples would take {525e6 / eng / 60:.1f} min")  # fmt: skip
    print(f"Warm start (fresh process, numba cache present): {warm_start_s():.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
