"""The composite kind: alarms of other rules, not samples, are its input."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from rules.spec.base import LevelNo, PosSeconds, RuleBase, RuleId


class CompositeRule(RuleBase):
    """Alarms of other rules, coupled within a time window and a scope (a tag such as zone)."""

    kind: Literal["composite"]
    of: Annotated[list[RuleId], Field(min_length=1)]
    need: Literal["all", "any"] | Annotated[int, Field(ge=1, le=64)] = "all"
    count: Literal["rules", "points"] = "rules"  # what `need = k` counts
    window_s: PosSeconds
    scope: str | None = None  # tag name: members must share its value; None: the whole gateway
    min_level: LevelNo = 4  # a member alarm counts at this level or more severe
    level: LevelNo = 2
    # points / quantity / tags, when given, limit which member alarms count
