"""What every rule kind shares: constrained types, the strict model base, and the fields
common to all kinds (id, selectors, modes) or to the kinds that run on samples.

Types are declared once here and reused by every kind module.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RuleId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]+$", min_length=1, max_length=128)]
ModeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", min_length=1, max_length=64)]
LevelNo = Literal[1, 2, 3, 4]
# Delays, windows and time constants: a year at most. Beyond that a value is a typo
# (1e300), and the kernels' millisecond arithmetic would overflow.
MAX_SECONDS = 365 * 86_400
Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)]
PosSeconds = Annotated[float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class SpecModel(BaseModel):
    """A table of a rule file: unknown keys are refused, values never change after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleBase(SpecModel):
    """What every kind shares: the id, the point selectors, the modes it runs in."""

    id: RuleId
    description: str = ""
    enabled: bool = True
    points: list[str] | None = None  # globs over device/point
    quantity: str | None = None
    tags: dict[str, str] | None = None
    # Points whose tags match all of these (globs) are left out: water rules skip gas mains.
    not_tags: dict[str, str] | None = None
    modes: list[ModeName] | None = None  # None: every mode
    # false: the rule's alarms are not reported, only fed to composites (a member signal)
    notify: bool = True


class BoundRule(RuleBase):
    """A rule that runs on the samples of the points it selects."""

    @model_validator(mode="after")
    def _needs_selector(self) -> BoundRule:
        if self.points is None and self.quantity is None and self.tags is None:
            raise ValueError("a rule needs at least one selector: points, quantity or tags")
        return self


class RelativeRule(BoundRule):
    """A sample rule whose limits may be relative to a number the point carries as a tag."""

    # Limits relative to a number the point carries as a tag (a manhole's `rim_depth_m`):
    # "offset" -> tag + limit, "fraction" -> tag * limit. Binds only points with that tag.
    relative_to: str | None = None
    relative: Literal["offset", "fraction"] = "offset"
