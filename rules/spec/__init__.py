"""Rule files: pydantic models of every kind and `load_rules(refs, base_dir) -> RuleSet`.

    base.py       constrained types, the strict model base, RuleBase (id, selectors, modes)
    process.py    threshold, rate, trend, accumulation, night_flow (and Level)
    health.py     flatline, range, spike, stale, drift (sensor health)
    composite.py  composite (alarms of other rules)
    kinds.py      the `Rule` union on `kind`, RULE_KINDS
    ruleset.py    Override, RuleFile, RuleSet, apply_override
    actions.py    Action (`[[actions]]`: trigger, targets, interlocks)
    loader.py     load_rules, parse_rule_file, resolve_ref, PACKS, format_loc

Everything is re-exported here: `from rules.spec import RuleSet, load_rules`.
"""

from __future__ import annotations

from rules.spec.actions import Action, Interlock, Target, Trigger
from rules.spec.base import (
    BoundRule,
    Finite,
    LevelNo,
    ModeName,
    NonNeg,
    Positive,
    PosSeconds,
    RelativeRule,
    RuleBase,
    RuleId,
    Seconds,
    SpecModel,
)
from rules.spec.baseline import BaselineRule
from rules.spec.composite import CompositeRule
from rules.spec.health import DriftRule, FlatlineRule, RangeRule, SpikeRule, StaleRule
from rules.spec.kinds import RULE_KINDS, Rule
from rules.spec.loader import (
    PACKS,
    ParsedFile,
    format_loc,
    load_rules,
    parse_rule_file,
    resolve_ref,
)
from rules.spec.process import (
    AccumulationRule,
    Level,
    NightFlowRule,
    RateRule,
    ThresholdRule,
    TrendRule,
)
from rules.spec.ruleset import Override, RuleFile, RuleSet, SourcedOverride, apply_override

__all__ = [
    "PACKS",
    "RULE_KINDS",
    "AccumulationRule",
    "Action",
    "BaselineRule",
    "BoundRule",
    "CompositeRule",
    "DriftRule",
    "Finite",
    "FlatlineRule",
    "Interlock",
    "Level",
    "LevelNo",
    "ModeName",
    "NightFlowRule",
    "NonNeg",
    "Override",
    "ParsedFile",
    "PosSeconds",
    "Positive",
    "RangeRule",
    "RateRule",
    "RelativeRule",
    "Rule",
    "RuleBase",
    "RuleFile",
    "RuleId",
    "RuleSet",
    "Seconds",
    "SourcedOverride",
    "SpecModel",
    "SpikeRule",
    "StaleRule",
    "Target",
    "ThresholdRule",
    "TrendRule",
    "Trigger",
    "apply_override",
    "format_loc",
    "load_rules",
    "parse_rule_file",
    "resolve_ref",
]
