"""What a replay yields (BacktestResult) and how it is reported: the per-rule summary,
its table, and the alarms CSV that score_detection.py reads."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rules.backtest.actions import PlannedAction
from rules.backtest.readings import Readings
from rules.events import AlarmState, AlarmTransition
from rules.sampling import NotAssessing

OUT_COLUMNS = ("ts", "point", "rule", "kind", "level", "state", "value", "limit", "window_s",
               "baseline", "delta", "slope", "eta_s", "members")  # fmt: skip


@dataclass
class RuleSummary:
    rule: str
    kind: str
    alarms: int = 0
    time_in_alarm_s: float = 0.0
    first_ts: int | None = None
    last_ts: int | None = None
    points: set[str] = field(default_factory=set)


@dataclass
class BacktestResult:
    transitions: list[AlarmTransition]
    summary: list[RuleSummary]
    samples: int
    skipped: int  # samples of points the points list does not know
    readings: Readings
    # The `[[actions]]` decisions over the replay, as a dry run (rules.backtest.actions).
    actions: list[PlannedAction] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)  # point key -> unit, for plots
    # bindings that could never raise at their point's step in the data (rules.sampling)
    not_assessing: list[NotAssessing] = field(default_factory=list)


def summarize(transitions: Sequence[AlarmTransition], end_ts: int) -> list[RuleSummary]:
    """Per rule: alarms raised, time in alarm (open alarms count to end_ts), first and last."""
    by_rule: dict[str, RuleSummary] = {}
    open_since: dict[str, int] = {}
    for t in transitions:
        s = by_rule.setdefault(t.rule, RuleSummary(t.rule, t.kind))
        if t.state is AlarmState.RAISED:
            s.alarms += 1
            s.first_ts = t.ts_ms if s.first_ts is None else s.first_ts
            s.last_ts = t.ts_ms
            s.points.add(f"{t.device}/{t.point}")
            open_since[t.alarm_id] = t.ts_ms
        elif t.state is AlarmState.CLEARED and t.alarm_id in open_since:
            s.time_in_alarm_s += (t.ts_ms - open_since.pop(t.alarm_id)) / 1000.0
    for t in transitions:
        if t.alarm_id in open_since and t.state is AlarmState.RAISED:
            by_rule[t.rule].time_in_alarm_s += (end_ts - open_since.pop(t.alarm_id)) / 1000.0
    return sorted(by_rule.values(), key=lambda s: s.rule)


def _num(x: float | None) -> str:
    return "" if x is None or x != x else repr(x)


def write_alarms_csv(transitions: Iterable[AlarmTransition], path: Path) -> None:
    """`ts,point,rule,kind,level,state,value` (the columns score_detection.py reads), then
    the limit and the evidence: window_s, baseline, delta, slope, eta_s, and a composite's
    members as `device/point@ts` joined by `|`."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(OUT_COLUMNS)
        for t in transitions:
            ev = t.evidence
            why = ("", "", "", "", "", "") if ev is None else (
                _num(ev.window_s), _num(ev.baseline), _num(ev.delta), _num(ev.slope),
                _num(ev.eta_s), "|".join(f"{m.device}/{m.point}@{m.ts_ms}" for m in ev.members),
            )  # fmt: skip
            w.writerow((t.ts_ms, f"{t.device}/{t.point}", t.rule, t.kind, t.level,
                        str(t.state), _num(t.value), _num(t.limit), *why))  # fmt: skip


def format_summary(summary: Sequence[RuleSummary]) -> str:
    """A plain table: rule, kind, alarms, time in alarm, first and last raise (UTC)."""

    def iso(ts: int | None) -> str:
        if ts is None:
            return "-"
        return datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    rows = [("rule", "kind", "alarms", "in alarm", "first", "last")]
    for s in summary:
        rows.append((s.rule, s.kind, str(s.alarms), f"{s.time_in_alarm_s / 60:.1f} min",
                     iso(s.first_ts), iso(s.last_ts)))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def format_not_assessing(items: Sequence[NotAssessing]) -> str:
    """The bindings that could not assess at the data's step, one line each (empty: none)."""
    if not items:
        return ""
    lines = [f"not assessing ({len(items)}): these rules could never raise on these points"]
    lines += [f"  {n.rule} ({n.kind}) on {n.point}: {n.why} at a step of {n.poll_s:g} s"
              for n in items]  # fmt: skip
    return "\n".join(lines)
