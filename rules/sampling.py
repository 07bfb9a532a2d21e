"""Rules that know their sampling: what each kind needs of a point's poll interval.

A rule is written once for a quantity, but points are read every second on one gateway
and every 30 minutes on a battery logger. Per (rule, point) binding with a known poll
interval `poll_s` (`PointMeta.poll_s`: the device's `poll_interval_s` in the daemon,
the median step of the data in a backtest), each kind either **scales** or is
**refused**:

| kind | at poll interval p |
|---|---|
| `stale` | `after_s` scales to at least `STALE_POLLS` x p (a missed poll is not silence) |
| `flatline` | `duration_s` scales to at least `FLAT_POLLS` x p (a flat run needs readings) |
| `night_flow` | `smooth_s` scales to at least `SMOOTH_POLLS` x p (its EWMA restarts |
|  | after a gap longer than `smooth_s`: at p > smooth_s no night was ever assessed) |
| `rate` | refused when `window_s` < p: the window never holds two readings |
| `trend` | refused when `window_s` < (`min_samples` - 1) x p |
| `accumulation` | refused when `window_s` < p |
| `night_flow` | refused when the night window is shorter than p (no reading in it) |
| `composite` | refused when `window_s` < p of its members (their raises come a poll apart) |

A refusal names the rule, the point, the poll interval and the fix (an `[[overrides]]`
for that point with a longer window, or `enabled = false` there). `rules check -c`
and `config check` print refusals as problems; the daemon and a backtest run the
binding anyway but list it under "not assessing" (status, backtest summary): it can
never raise, and says so instead of staying silent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rules.compile import bind_rules
from rules.events import PointMeta
from rules.spec import CompositeRule, RuleSet

STALE_POLLS = 3.0
FLAT_POLLS = 3.0
SMOOTH_POLLS = 2.0


def scaled(seconds: float, poll_s: float | None, polls: float) -> float:
    """`seconds`, or `polls` poll intervals when that is longer."""
    return seconds if poll_s is None else max(seconds, polls * poll_s)


@dataclass(frozen=True, slots=True)
class NotAssessing:
    """A binding that cannot assess what it was asked to at its point's poll interval."""

    rule: str
    kind: str
    point: str
    poll_s: float
    why: str

    def message(self) -> str:
        return (
            f"rule {self.rule} ({self.kind}) on {self.point}: {self.why} at a poll interval "
            f"of {self.poll_s:g} s; it can never raise there. Give this point an "
            f"[[overrides]] with a longer window, or enabled = false"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "kind": self.kind, "point": self.point,
                "poll_s": self.poll_s, "why": self.why}  # fmt: skip


def refusal(rule: Any, poll_s: float) -> str | None:
    """Why `rule` (overrides applied) cannot assess at `poll_s`, or None when it can."""
    kind = getattr(rule, "kind", "")
    if kind in ("rate", "accumulation") and rule.window_s < poll_s:
        return f"window_s = {rule.window_s:g} s never holds two readings"
    if kind == "trend" and rule.window_s < (rule.min_samples - 1) * poll_s:
        return (
            f"window_s = {rule.window_s:g} s holds fewer than min_samples = "
            f"{rule.min_samples} readings"
        )
    if kind == "night_flow":
        night_h = (rule.night_end_h - rule.night_start_h) % 24.0
        if night_h * 3600.0 < poll_s:
            return f"the night window ({night_h:g} h) may hold no reading"
    if kind == "composite" and rule.window_s < poll_s:
        return f"window_s = {rule.window_s:g} s is shorter than one poll of its members"
    return None


def not_assessing(ruleset: RuleSet, points: Sequence[PointMeta]) -> list[NotAssessing]:
    """Every binding of `ruleset` over `points` that cannot assess at its point's poll."""
    out: list[NotAssessing] = []
    bound = bind_rules(ruleset, points)
    for kind, bindings in bound.items():
        for bd in bindings:
            meta = points[bd.point_idx]
            if meta.poll_s is None or not bd.rule.enabled:
                continue
            why = refusal(bd.rule, meta.poll_s)
            if why is not None:
                out.append(NotAssessing(bd.rule.id, kind, meta.key, meta.poll_s, why))
    # a composite: against the slowest poll among the points its members bind
    member_polls: dict[str, float] = {}
    for bindings in bound.values():
        for bd in bindings:
            p = points[bd.point_idx].poll_s
            if p is not None:
                member_polls[bd.rule.id] = max(member_polls.get(bd.rule.id, 0.0), p)
    for r in ruleset.rules:
        if isinstance(r, CompositeRule) and r.enabled:
            polls = [member_polls[m] for m in r.of if m in member_polls]
            if polls and (why := refusal(r, max(polls))) is not None:
                out.append(NotAssessing(r.id, "composite", "*", max(polls), why))
    return out
