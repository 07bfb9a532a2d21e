"""Readings CSV reading speed: rules.backtest.read_csv (numba scanner) against the csv module.

    .venv/bin/python bench/csv_read.py [--rows 5000000] [--careful-rows 1000000]

Writes a file of 1-min readings for 1,000 points (`ts,point,value`, epoch ms,
values as a logger writes them: 3 decimals) to $TMPDIR, reads it with both
readers (the careful one on its first --careful-rows lines), checks they agree
there, then writes the same readings as .npz columns and reads them back. Prints
rows/s and what one year of 1,000 points (525.6 M rows) would take to read (the
file is in the page cache: this is parsing, not disk).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from rules.backtest import read_csv, read_csv_careful, read_npz, write_npz

YEAR_ROWS = 1000 * 525_600


def write_csv(path: Path, rows: int, points: int = 1000) -> None:
    rng = np.random.default_rng(0)
    names = np.array([f"dev-{i:04d}/pressure" for i in range(points)])
    with path.open("w") as f:
        f.write("ts,point,value\n")
        step = 1_000_000
        for s in range(0, rows, step):
            i = np.arange(s, min(rows, s + step))
            ts = 1_700_000_000_000 + (i // points) * 60_000
            val = np.round(0.4 + 0.05 * rng.standard_normal(i.size), 3)
            f.writelines(
                f"{t},{p},{v}\n" for t, p, v in zip(ts, names[i % points], val, strict=True)
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--careful-rows", type=int, default=1_000_000)
    args = ap.parse_args()
    d = Path(tempfile.gettempdir())
    path, head = d / "edge-agent-bench-readings.csv", d / "edge-agent-bench-head.csv"
    if not path.exists() or sum(1 for _ in path.open()) != args.rows + 1:
        write_csv(path, args.rows)
    with path.open() as src, head.open("w") as dst:
        dst.writelines(line for _, line in zip(range(args.careful_rows + 1), src, strict=False))
    read_csv(head)  # compile (cached after the first run)
    t0 = time.perf_counter()
    careful = read_csv_careful(head)
    t1 = time.perf_counter()
    fast_head = read_csv(head)
    assert fast_head.keys == careful.keys
    for name in ("point_idx", "ts_ms", "value", "good"):
        assert np.array_equal(getattr(fast_head, name), getattr(careful, name), equal_nan=True)
    t2 = time.perf_counter()
    fast = read_csv(path)
    t3 = time.perf_counter()
    npz = d / "edge-agent-bench-readings.npz"
    write_npz(fast, npz)
    t4 = time.perf_counter()
    cols = read_npz(npz)
    t5 = time.perf_counter()
    assert np.array_equal(cols.value, fast.value)
    size_mb = path.stat().st_size / 1e6
    for label, n, dt in (
        ("csv module", len(careful), t1 - t0),
        ("numba scan", len(fast), t3 - t2),
        (".npz", len(cols), t5 - t4),
    ):
        rate = n / dt
        print(f"{label:<11} {n:>11,} rows  {dt:7.2f} s  {rate / 1e6:6.2f} M rows/s  "
              f"525.6 M rows: {YEAR_ROWS / rate / 60:6.1f} min")  # fmt: skip
    print(f"file {size_mb:.0f} MB, {size_mb * 1e6 / len(fast):.1f} bytes/row")


if __name__ == "__main__":
    main()
