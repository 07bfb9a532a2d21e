"""Every rule kind by its `kind` tag: the discriminated union a `[[rules]]` entry is read as.

A new kind: its model in process.py, health.py or a module of its own, then here in
`Rule` and `RULE_KINDS`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from rules.spec.base import RuleBase
from rules.spec.baseline import BaselineRule
from rules.spec.composite import CompositeRule
from rules.spec.health import DriftRule, FlatlineRule, RangeRule, SpikeRule, StaleRule
from rules.spec.process import (
    AccumulationRule,
    NightFlowRule,
    RateRule,
    ThresholdRule,
    TrendRule,
)

Rule = Annotated[
    ThresholdRule
    | RateRule
    | TrendRule
    | FlatlineRule
    | RangeRule
    | AccumulationRule
    | NightFlowRule
    | SpikeRule
    | StaleRule
    | DriftRule
    | BaselineRule
    | CompositeRule,
    Field(discriminator="kind"),
]
RULE_KINDS: dict[str, type[RuleBase]] = {
    "threshold": ThresholdRule,
    "rate": RateRule,
    "trend": TrendRule,
    "flatline": FlatlineRule,
    "range": RangeRule,
    "accumulation": AccumulationRule,
    "night_flow": NightFlowRule,
    "spike": SpikeRule,
    "stale": StaleRule,
    "drift": DriftRule,
    "baseline": BaselineRule,
    "composite": CompositeRule,
}
