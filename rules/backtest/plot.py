"""Backtest plot: each alarmed point's series with its alarm spans shaded by level.

matplotlib is an optional extra (`pip install edge-agent[plot]`); it is
imported here only, and only when a plot is asked for. The caller (the CLI) draws the
result of run_backtest; nothing in the backtest imports this module.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from rules.backtest.report import BacktestResult
from rules.errors import RuleError
from rules.events import AlarmState

LEVEL_COLOURS = {1: "#d62728", 2: "#ff7f0e", 3: "#e6c200", 4: "#1f77b4"}
MAX_PANELS = 12


def plot_backtest(result: BacktestResult, path: Path) -> int:
    """Draw up to MAX_PANELS alarmed points to `path` (PNG/SVG/PDF); returns panels drawn."""
    try:  # here, not at the top: matplotlib is an optional extra, and slow to import
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise RuleError([(str(path), "", "plotting needs matplotlib: "
                          "pip install 'edge-agent[plot]'")]) from err  # fmt: skip
    spans: dict[str, list[tuple[int, int, int, str]]] = {}
    # per point: (raise ts, window start ts, baseline, level) from the alarms' evidence,
    # and the raise times of composite members on that point
    marks: dict[str, list[tuple[int, int, float, int]]] = {}
    member_ts: dict[str, list[int]] = {}
    opened: dict[str, tuple[int, int, str, str]] = {}
    r = result.readings
    end = int(r.ts_ms.max()) if len(r) else 0
    for t in result.transitions:
        key = f"{t.device}/{t.point}"
        if t.state is AlarmState.RAISED:
            opened[t.alarm_id] = (t.ts_ms, t.level, key, t.rule)
            ev = t.evidence
            if ev is not None and ev.baseline is not None:
                start = t.ts_ms - round((ev.window_s or 0.0) * 1000)
                marks.setdefault(key, []).append((t.ts_ms, start, ev.baseline, t.level))
            for m in ev.members if ev is not None else ():
                member_ts.setdefault(f"{m.device}/{m.point}", []).append(m.ts_ms)
        elif t.state is AlarmState.CLEARED and t.alarm_id in opened:
            t0, lvl, k, rule = opened.pop(t.alarm_id)
            spans.setdefault(k, []).append((t0, t.ts_ms, lvl, rule))
    for t0, lvl, k, rule in opened.values():
        spans.setdefault(k, []).append((t0, end, lvl, rule))
    keys = [k for k in r.keys if k in spans][:MAX_PANELS]
    fig, axes = plt.subplots(max(len(keys), 1), 1, figsize=(12, 2.2 * max(len(keys), 1)),
                             sharex=True, squeeze=False)  # fmt: skip
    to_h = 3_600_000.0
    t_first = float(r.ts_ms.min()) if len(r) else 0.0
    for ax, key in zip(axes[:, 0], keys, strict=False):
        sel = r.point_idx == r.keys.index(key)
        x = (r.ts_ms[sel] - t_first) / to_h
        ax.plot(x, r.value[sel], lw=0.8, color="black")
        for t0, t1, lvl, _ in sorted(spans[key], key=lambda s: -s[2]):
            ax.axvspan((t0 - t_first) / to_h, (t1 - t_first) / to_h, color=LEVEL_COLOURS[lvl],
                       alpha=0.25, lw=0)  # fmt: skip
            # a raise as a line too: a short alarm on a long series stays visible
            ax.axvline((t0 - t_first) / to_h, color=LEVEL_COLOURS[lvl], lw=1.0, alpha=0.9)
        for t1, t0, base, lvl in marks.get(key, []):  # the baseline the alarm compared with
            ax.hlines(base, (t0 - t_first) / to_h, (t1 - t_first) / to_h, colors=LEVEL_COLOURS[lvl],
                      linestyles="dashed", lw=1.2)  # fmt: skip
        for tm in member_ts.get(key, []):  # this point's member alarm counted in a composite
            ax.plot([(tm - t_first) / to_h], [float(np.interp(tm, r.ts_ms[sel], r.value[sel]))],
                    marker="v", color="black", ms=5)  # fmt: skip
        rules = sorted({s[3] for s in spans[key]})
        ax.set_title(f"{key}  ({', '.join(rules)})", fontsize=8, loc="left")
        if result.units.get(key):
            ax.set_ylabel(result.units[key], fontsize=7)
        ax.tick_params(labelsize=7)
    if not keys:
        axes[0, 0].text(0.5, 0.5, "no alarms", ha="center", va="center")
    start_utc = datetime.fromtimestamp(t_first / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    axes[-1, 0].set_xlabel(
        f"hours from {start_utc}; alarm spans: red 1, orange 2, yellow 3, blue 4; "
        "dashed: the baseline over the window; v: a composite's member"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return len(keys)


__all__ = ["LEVEL_COLOURS", "plot_backtest"]
