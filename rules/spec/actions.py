"""`[[actions]]`: what the gateway does about an alarm (the "handle" step).

An action is bound to one rule's alarms (`on`), writes values to points (`set`, and
`on_clear` when the alarm clears), is blocked by interlocks (`unless`, read fresh at the
moment of acting), repeats at most once per `min_interval_s`, and keeps off a point for
`manual_hold_off_s` after an operator wrote it.

A point is `device/point`, or a bare point name: then it names that point on every
device that shares the alarm's device tags listed in `scope` (the same `zone`, the same
`asset`), so one action serves every manhole of a pack. `tags` narrows the devices
further (`{ role = "fan" }`). Whether a target exists and is writable, and whether a
value fits its `write_range`, needs the gateway's devices and profiles: the daemon's
loader checks that (`edge-agent config check`, `rules check -c`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import Field, model_validator

from rules.spec.base import Finite, LevelNo, ModeName, NonNeg, RuleId, SpecModel

ActionId = RuleId
PointRef = Annotated[
    str, Field(pattern=r"^([A-Za-z0-9_.-]+/)?[A-Za-z0-9_.-]+$", min_length=1, max_length=129)
]
TagName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", min_length=1, max_length=64)]

# An operator's write to a point keeps automatic actions off it this long by default.
DEFAULT_MANUAL_HOLD_OFF_S = 600.0


class Trigger(SpecModel):
    """The alarms an action answers: of rule `rule`, raised or escalated to a level at
    least as severe as `level_at_most` (1 is the most severe; unset: any level)."""

    rule: RuleId
    level_at_most: LevelNo | None = None

    def fires_at(self, level: int) -> bool:
        return self.level_at_most is None or level <= self.level_at_most


class Target(SpecModel):
    """A value for a point: `device/point`, or a point name resolved through `scope`."""

    point: PointRef
    value: Finite
    tags: dict[TagName, str] = Field(default_factory=dict)

    @property
    def scoped(self) -> bool:
        return "/" not in self.point


class Interlock(SpecModel):
    """A condition on a point that blocks the action while it holds (exactly one of
    `above`, `below`, `equals`). A point that cannot be read blocks too."""

    point: PointRef
    above: Finite | None = None
    below: Finite | None = None
    equals: Finite | None = None
    tags: dict[TagName, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_test(self) -> Interlock:
        given = [k for k in ("above", "below", "equals") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"an interlock needs exactly one of above, below, equals (got {given or 'none'})"
            )
        return self

    @property
    def scoped(self) -> bool:
        return "/" not in self.point

    def holds(self, value: float) -> bool:
        """Whether this reading blocks the action."""
        if self.above is not None:
            return value > self.above
        if self.below is not None:
            return value < self.below
        return value == self.equals

    def describe(self) -> str:
        if self.above is not None:
            return f"above {self.above:g}"
        if self.below is not None:
            return f"below {self.below:g}"
        return f"equals {self.equals:g}"


class Action(SpecModel):
    id: ActionId
    description: str = ""
    enabled: bool = True
    on: Trigger
    set: Annotated[list[Target], Field(min_length=1)]
    on_clear: list[Target] = Field(default_factory=list)
    unless: list[Interlock] = Field(default_factory=list)
    # Tags the target devices share with the alarm's device (bare point names only).
    scope: list[TagName] = Field(default_factory=list)
    min_interval_s: NonNeg = 0.0
    manual_hold_off_s: NonNeg = DEFAULT_MANUAL_HOLD_OFF_S
    modes: list[ModeName] | None = None  # None: every mode

    @model_validator(mode="after")
    def _scope_for_bare_names(self) -> Action:
        bare = [t.point for t in [*self.set, *self.on_clear] if t.scoped]
        bare += [c.point for c in self.unless if c.scoped]
        if bare and not self.scope:
            raise ValueError(
                f"point {bare[0]!r} has no device: write `device/point`, or give `scope` "
                '(device tags the targets share with the alarm\'s device, e.g. ["zone"])'
            )
        return self

    def runs_in(self, mode: str) -> bool:
        return self.enabled and (self.modes is None or mode in self.modes)


def select_devices(
    action: Action,
    ref: Target | Interlock,
    alarm_device: str | None,
    device_tags: Mapping[str, Mapping[str, str]],
) -> list[str]:
    """The devices (of `device_tags`: name -> tags) a target or interlock names for an
    alarm of `alarm_device`: the one of `device/point`, or every device sharing the
    action's `scope` tags with the alarm's device and carrying the ref's own `tags`.
    Whether each has the point is the caller's to check (it knows the profiles)."""
    if not ref.scoped:
        name = ref.point.partition("/")[0]
        return [name] if name in device_tags else []
    own = device_tags.get(alarm_device or "")
    if own is None or any(k not in own for k in action.scope):
        return []
    want = {**{k: own[k] for k in action.scope}, **ref.tags}
    return [d for d, tags in device_tags.items() if all(tags.get(k) == v for k, v in want.items())]


def point_name(ref: Target | Interlock) -> str:
    """The point's name within its device."""
    return ref.point.rpartition("/")[2]
