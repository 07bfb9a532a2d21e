"""Overrides applied to a rule, and the RuleSet's lookup by id."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rules.spec import RuleSet, ThresholdRule, apply_override

RULE = ThresholdRule.model_validate({
    "id": "p.low", "kind": "threshold", "quantity": "pressure", "direction": "below",
    "levels": [{"level": 3, "limit": 0.2}, {"level": 2, "limit": 0.15, "on_delay_s": 10}],
})  # fmt: skip


def test_threshold_levels_merge_by_level_number() -> None:
    levels = [{"level": 3, "limit": 0.25}, {"level": 1, "limit": 0.1}]
    new = apply_override(RULE, {"levels": levels})
    assert isinstance(new, ThresholdRule)
    got = [(lv.level, lv.limit, lv.on_delay_s) for lv in new.levels]
    assert got == [(1, 0.1, None), (2, 0.15, 10.0), (3, 0.25, None)]
    assert RULE.levels[0].limit == 0.2  # the rule itself is left as it was


def test_an_override_is_validated_as_the_rule_kind() -> None:
    assert apply_override(RULE, {"hysteresis": 0.02}).model_dump()["hysteresis"] == 0.02
    with pytest.raises(ValidationError):
        apply_override(RULE, {"window_s": 60})  # a rate parameter, not a threshold one


def test_rule_lookup_by_id() -> None:
    rs = RuleSet((RULE,))
    assert rs.rule("p.low") is RULE
    with pytest.raises(KeyError):
        rs.rule("nope")
