"""Compile (or load from numba's on-disk cache) every kernel before the first poll.

`warm_up()` runs each kind's kernels once on tiny arrays of the exact dtypes
the engine uses, so the first real alarm never waits for LLVM. With a warm
cache (`NUMBA_CACHE_DIR` writable and kept) this is a cache load.
"""

from __future__ import annotations

import time

from rules.tables import TABLES


def warm_up() -> float:
    """Run every kernel once; returns the seconds it took."""
    t0 = time.perf_counter()
    for table_cls in TABLES.values():
        table_cls.warm()
    return time.perf_counter() - t0
