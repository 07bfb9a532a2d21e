"""Shared output: human tables by default, JSON with --json, and the cell formats
(durations, ages, times, values, levels, sizes) every view uses."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    """A table on stdout; an empty cell (None) stays blank."""
    sys.stdout.write("".join(line + "\n" for line in format_table(rows, headers, none="")))


LEVEL_NAMES = {1: "red", 2: "orange", 3: "yellow", 4: "blue"}


def format_table(
    rows: Sequence[Sequence[Any]], headers: Sequence[str], none: str = "-"
) -> list[str]:
    """Aligned columns under a header and a dashed rule; `none` stands for a None cell."""
    cells = [[str(h) for h in headers]] + [[none if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = []
    for n, r in enumerate(cells):
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def format_duration(ms: float) -> str:
    """12s, 5m12s, 3h04m, 2d03h: short enough for a table cell."""
    s = int(max(0, ms) // 1000)
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def format_age(ts_ms: int | None, now_ms: int) -> str:
    if ts_ms is None:
        return "never"
    return f"{format_duration(now_ms - ts_ms)} ago"


def format_ts(ts_ms: int) -> str:
    """ISO 8601 UTC with milliseconds, as in the logs."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ms / 1000)) + f".{ts_ms % 1000:03d}Z"


def format_value(value: Any, unit: str | None = None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        text = "nan"
    elif isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    return f"{text} {unit}" if unit else text


def format_level(level: int | None) -> str:
    if level is None:
        return "-"
    return f"{level} {LEVEL_NAMES.get(level, '')}".rstrip()


def format_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover - loop always returns


def format_evidence(ev: Mapping[str, Any] | None, unit: str | None = None) -> str:
    """An alarm's evidence on one line: `window 1m00s, baseline 0.4 MPa, delta -0.1 MPa,
    members pt-1/pressure (-0.1 at 12:00:05Z), ...`; empty without evidence."""
    if not ev:
        return ""
    parts = []
    if ev.get("window_s") is not None:
        parts.append(f"window {format_duration(float(ev['window_s']) * 1000)}")
    for key in ("baseline", "delta"):
        if ev.get(key) is not None:
            parts.append(f"{key} {format_value(ev[key], unit)}")
    if ev.get("slope") is not None:
        per_h = f"{unit or ''}/h"
        parts.append(f"slope {format_value(float(ev['slope']) * 3600, per_h)}")
    if ev.get("eta_s") is not None:
        parts.append(f"eta {format_duration(float(ev['eta_s']) * 1000)}")
    members = ev.get("members") or []
    if members:
        each = [
            f"{m.get('device')}/{m.get('point')} {m.get('rule')} "
            f"({format_value(m.get('value'))}, delta {format_value(m.get('delta'))} "
            f"at {format_ts(int(m.get('ts') or 0))[11:19]}Z)"
            for m in members
        ]
        parts.append("members " + "; ".join(each))
    if ev.get("note"):
        parts.append(str(ev["note"]))
    return ", ".join(parts)
