"""Wall-clock timestamps for records, monotonic time for schedules."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Unix epoch milliseconds, UTC: the `ts` of every record and payload."""
    return time.time_ns() // 1_000_000


def t_mono() -> float:
    """Monotonic seconds: deadlines and intervals never follow wall-clock jumps."""
    return time.monotonic()
