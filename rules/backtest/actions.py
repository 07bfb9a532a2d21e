"""The actions the rule files would have taken over a replay, as a dry run: which
target of which action, for which alarm, when. Nothing is written and interlocks are
not read (the recording holds no fresh readings); a target is acted on once per alarm,
`min_interval_s` and `modes` apply as in the daemon, `on_clear` follows an alarm the
action acted on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rules.events import AlarmState, AlarmTransition, PointMeta
from rules.spec import Action, RuleSet, Target
from rules.spec.actions import point_name, select_devices


@dataclass(frozen=True, slots=True)
class PlannedAction:
    ts_ms: int
    action: str
    alarm_id: str
    target: str  # device/point
    value: float
    state: str  # "dry-run" or "blocked"
    reason: str | None = None


def plan_actions(
    ruleset: RuleSet, transitions: Sequence[AlarmTransition], points: Sequence[PointMeta],
    mode: str = "normal",
) -> list[PlannedAction]:  # fmt: skip
    """Every decision the actions of `ruleset` make about `transitions` (in time order)."""
    tags: dict[str, dict[str, str]] = {}
    has: set[str] = set()
    for p in points:
        tags.setdefault(p.device, dict(p.tags))
        has.add(p.key)
    acted: set[tuple[str, str, str]] = set()
    last: dict[tuple[str, str], int] = {}
    out: list[PlannedAction] = []

    def decide(a: Action, t: AlarmTransition, target: Target, clearing: bool) -> None:
        for device in select_devices(a, target, t.device, tags):
            key = f"{device}/{point_name(target)}"
            mark = (a.id, t.alarm_id, key)
            if key not in has or (not clearing and mark in acted):
                continue
            prev = last.get((a.id, key))
            if not clearing and prev is not None and t.ts_ms - prev < a.min_interval_s * 1000:
                reason = f"min_interval_s {a.min_interval_s:g}"
                out.append(PlannedAction(t.ts_ms, a.id, t.alarm_id, key, target.value,
                                         "blocked", reason))  # fmt: skip
                continue
            if not clearing:
                last[(a.id, key)] = t.ts_ms
                acted.add(mark)
            out.append(PlannedAction(t.ts_ms, a.id, t.alarm_id, key, target.value, "dry-run"))

    for t in transitions:
        for a in ruleset.actions:
            if a.on.rule != t.rule or not a.runs_in(mode):
                continue
            if t.state in (AlarmState.RAISED, AlarmState.LEVEL_CHANGED) and a.on.fires_at(t.level):
                for target in a.set:
                    decide(a, t, target, clearing=False)
            elif t.state is AlarmState.CLEARED and any(
                m[0] == a.id and m[1] == t.alarm_id for m in acted
            ):
                for target in a.on_clear:
                    decide(a, t, target, clearing=True)
    return out


def format_actions(planned: Sequence[PlannedAction], limit: int = 50) -> str:
    """The decisions as lines for the terminal (the first `limit`)."""
    lines = [f"actions the rules would have taken (dry-run): {len(planned)}"]
    for p in planned[:limit]:
        why = f"  ({p.reason})" if p.reason else ""
        lines.append(f"  {_iso(p.ts_ms)}  {p.action:<24} {p.target} = {p.value:g}  {p.state}{why}")
    if len(planned) > limit:
        lines.append(f"  ... {len(planned) - limit} more (--json lists them all)")
    return "\n".join(lines)


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
