"""The root models: a rule file (`[[rules]]`, `[[overrides]]`, `[[actions]]`), an
override and how it applies, and the RuleSet that loading several files yields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from rules.spec.actions import Action
from rules.spec.base import RuleBase, RuleId, SpecModel
from rules.spec.kinds import Rule
from rules.spec.process import ThresholdRule


class Override(BaseModel):
    """`[[overrides]]`: `rule`, `points` (globs), then any parameters of that rule's kind."""

    model_config = ConfigDict(extra="allow", frozen=True)
    rule: RuleId
    points: Annotated[list[str], Field(min_length=1)]

    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class RuleFile(SpecModel):
    """The whole file, for its JSON schema; loading validates entry by entry (parse_rule_file)."""

    rules: list[Rule] = Field(default_factory=list)
    overrides: list[Override] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)


@dataclass(frozen=True)
class SourcedOverride:
    file: str
    index: int
    override: Override


@dataclass(frozen=True)
class RuleSet:
    """Validated rules of one or more files, in file order, with the overrides to apply."""

    rules: tuple[RuleBase, ...] = ()
    overrides: tuple[SourcedOverride, ...] = ()
    files: tuple[str, ...] = ()
    modes: frozenset[str] = field(default_factory=frozenset)
    # `[[actions]]` of the files, in file order, with (file, index) for messages.
    actions: tuple[Action, ...] = ()
    action_sources: tuple[tuple[str, int], ...] = ()

    def rule(self, rule_id: str) -> RuleBase:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def apply_override(rule: RuleBase, params: dict[str, Any]) -> RuleBase:
    """The rule with `params` applied. Threshold levels merge by level number."""
    data = rule.model_dump()
    for key, val in params.items():
        if key == "levels" and isinstance(val, list) and isinstance(rule, ThresholdRule):
            merged = {lv["level"]: lv for lv in data["levels"]}
            for lv in val:
                if isinstance(lv, dict) and "level" in lv:
                    merged[lv["level"]] = {**merged.get(lv["level"], {}), **lv}
            data["levels"] = [merged[k] for k in sorted(merged)]
        else:
            data[key] = val
    return type(rule).model_validate(data)
