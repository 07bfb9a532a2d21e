"""What `rules backtest` lists as the actions the rules would have taken (dry-run)."""

from __future__ import annotations

from pathlib import Path

from rules.backtest.actions import format_actions, plan_actions
from rules.events import AlarmState, AlarmTransition, PointMeta
from rules.spec import load_rules

RULES = """
[[rules]]
id = "gas.high"
kind = "threshold"
quantity = "methane_lel"
direction = "above"
levels = [ { level = 2, limit = 20.0 }, { level = 1, limit = 50.0 } ]

[[actions]]
id = "vent"
on = { rule = "gas.high" }
scope = ["zone"]
set = [ { point = "relay1", value = 1 } ]
on_clear = [ { point = "relay1", value = 0 } ]
min_interval_s = 600
"""
POINTS = [
    PointMeta("gas-7", "methane", "methane_lel", "%LEL", tags={"zone": "mh-7"}),
    PointMeta("io-7", "relay1", "command", "", tags={"zone": "mh-7"}),
    PointMeta("io-8", "relay1", "command", "", tags={"zone": "mh-8"}),
]


def t(alarm_id: str, ts_s: int, state: AlarmState, level: int = 2) -> AlarmTransition:
    return AlarmTransition(alarm_id, ts_s * 1000, "gas-7", "methane", "gas.high", "threshold",
                           level, state, 30.0, 20.0, "%LEL")  # fmt: skip


def test_actions_once_per_alarm_in_scope_with_min_interval_and_on_clear(tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text(RULES)
    ruleset = load_rules(["r.toml"], tmp_path)
    transitions = [
        t("a-1", 0, AlarmState.RAISED),
        t("a-1", 10, AlarmState.LEVEL_CHANGED, level=1),  # escalation: not again
        t("a-1", 60, AlarmState.CLEARED),
        t("a-2", 120, AlarmState.RAISED),  # within min_interval_s of the first
        t("a-2", 180, AlarmState.CLEARED),  # a-2 was not acted on: no on_clear
    ]
    planned = plan_actions(ruleset, transitions, POINTS)
    got = [(p.ts_ms // 1000, p.alarm_id, p.target, p.value, p.state) for p in planned]
    assert got == [
        (0, "a-1", "io-7/relay1", 1.0, "dry-run"),
        (60, "a-1", "io-7/relay1", 0.0, "dry-run"),
        (120, "a-2", "io-7/relay1", 1.0, "blocked"),
    ]
    assert format_actions(planned).splitlines()[0] == (
        "actions the rules would have taken (dry-run): 3"
    )
