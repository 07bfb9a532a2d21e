"""Rule files: pydantic models and `load_rules(refs, base_dir) -> RuleSet`.

A rule file holds `[[rules]]` (a discriminated union on `kind`) and
`[[overrides]]` (per-point parameter changes that win over the rule's own).
A ref is a path relative to `base_dir`, or a packaged pack: `gas`, `water`,
`drainage`, or a path such as `rules/packs/gas.toml` that is not on disk.
Every fault becomes one `(file, key path, what is allowed)` problem and the
whole set is refused with `RuleError`.
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from rules.errors import RuleError

PACKS = ("gas", "water", "drainage")

RuleId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]+$", min_length=1, max_length=128)]
ModeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", min_length=1, max_length=64)]
LevelNo = Literal[1, 2, 3, 4]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PosSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Level(_Model):
    level: LevelNo
    limit: Finite
    on_delay_s: Seconds | None = None  # None: the rule's on_delay_s


class RuleBase(_Model):
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


class _Bound(RuleBase):
    """A rule that runs on the samples of the points it selects."""

    @model_validator(mode="after")
    def _needs_selector(self) -> _Bound:
        if self.points is None and self.quantity is None and self.tags is None:
            raise ValueError("a rule needs at least one selector: points, quantity or tags")
        return self


class _Relative(_Bound):
    # Limits relative to a number the point carries as a tag (a manhole's `rim_depth_m`):
    # "offset" -> tag + limit, "fraction" -> tag * limit. Binds only points with that tag.
    relative_to: str | None = None
    relative: Literal["offset", "fraction"] = "offset"


class ThresholdRule(_Relative):
    kind: Literal["threshold"]
    direction: Literal["above", "below"]
    levels: Annotated[list[Level], Field(min_length=1, max_length=4)]
    hysteresis: NonNeg = 0.0
    on_delay_s: Seconds = 0.0
    off_delay_s: Seconds = 0.0

    @model_validator(mode="after")
    def _levels_ordered(self) -> ThresholdRule:
        seen = [lv.level for lv in self.levels]
        if len(set(seen)) != len(seen):
            raise ValueError(f"levels: each level (1-4) at most once, got {seen}")
        # More severe (lower number) must be further out: higher for above, lower for below.
        by_sev = sorted(self.levels, key=lambda lv: lv.level)
        for a, b in itertools.pairwise(by_sev):
            worse = a.limit > b.limit if self.direction == "above" else a.limit < b.limit
            if not worse:
                cmp = "above" if self.direction == "above" else "below"
                raise ValueError(
                    f"levels: level {a.level} (more severe) must lie {cmp} level {b.level}: "
                    f"{a.limit} vs {b.limit}"
                )
        return self


class RateRule(_Relative):
    """A change of at least `delta` within `window_s` (from the window's extreme to now)."""

    kind: Literal["rate"]
    direction: Literal["falling", "rising"]
    delta: Positive
    window_s: PosSeconds
    level: LevelNo = 4
    on_delay_s: Seconds = 0.0
    off_delay_s: Seconds = 0.0
    despike: bool = False  # a one-reading spike never becomes the window's reference


class TrendRule(_Relative):
    """Least-squares slope over `window_s`; raised while the limit is due within `horizon_s`."""

    kind: Literal["trend"]
    direction: Literal["above", "below"]
    limit: Finite
    window_s: PosSeconds
    horizon_s: PosSeconds
    level: LevelNo = 3
    min_samples: Annotated[int, Field(ge=3, le=10_000)] = 4
    min_slope_per_h: NonNeg = 0.0  # ignore slopes flatter than this (units per hour)
    on_delay_s: Seconds = 0.0
    off_delay_s: Seconds = 0.0
    despike: bool = False  # fit min(x, previous x) (max when below): lone spikes stay out


class FlatlineRule(_Bound):
    """Stuck sensor: every value within `epsilon` of each other for `duration_s`."""

    kind: Literal["flatline"]
    epsilon: NonNeg
    duration_s: PosSeconds
    level: LevelNo = 4
    except_floor: bool = True  # a dry manhole or no rain sits at range_lo: not a fault


class RangeRule(_Bound):
    """Out of the sensor's range (PointMeta range_lo/hi, widened by `margin` of full scale)."""

    kind: Literal["range"]
    margin: Annotated[float, Field(ge=0, le=1)] = 0.01
    count: Annotated[int, Field(ge=1, le=1000)] = 3  # consecutive readings out of range
    level: LevelNo = 4


class AccumulationRule(_Bound):
    """The sum of readings over `window_s` (rainfall depth) reaching `limit`."""

    kind: Literal["accumulation"]
    window_s: PosSeconds
    limit: Finite
    level: LevelNo = 4
    off_delay_s: Seconds = 0.0


class NightFlowRule(_Bound):
    """Minimum night flow (slow leaks): tonight's minimum of the smoothed flow in
    [night_start_h, night_end_h) local time against the median of the last `history` nights."""

    kind: Literal["night_flow"]
    night_start_h: Annotated[float, Field(ge=0, lt=24)] = 2.0
    night_end_h: Annotated[float, Field(ge=0, lt=24)] = 4.0
    utc_offset_h: Annotated[float, Field(ge=-12, le=14)] = 8.0
    smooth_s: PosSeconds = 900.0
    rise_fraction: NonNeg = 0.15
    rise_abs: NonNeg = 0.0
    min_nights: Annotated[int, Field(ge=1, le=31)] = 2
    history: Annotated[int, Field(ge=1, le=31)] = 7
    nights: Annotated[int, Field(ge=1, le=31)] = 2
    level: LevelNo = 3

    @model_validator(mode="after")
    def _window(self) -> NightFlowRule:
        if self.night_start_h == self.night_end_h:
            raise ValueError("night_start_h and night_end_h must differ")
        if self.min_nights > self.history:
            raise ValueError("min_nights must not exceed history")
        return self


class SpikeRule(_Bound):
    """Hampel: a reading far from the median of the last `window` that returns within `width`."""

    kind: Literal["spike"]
    window: Annotated[int, Field(ge=3, le=16)] = 5
    n_sigma: Positive = 6.0
    min_delta: NonNeg = 0.0  # never a spike below this deviation (use ~3 quanta)
    width: Annotated[int, Field(ge=1, le=4)] = 2
    count: Annotated[int, Field(ge=1, le=64)] = 5  # spikes within per_s that raise the alarm
    per_s: PosSeconds = 3600.0
    level: LevelNo = 4


class StaleRule(_Bound):
    """No good reading for `after_s`."""

    kind: Literal["stale"]
    after_s: PosSeconds
    level: LevelNo = 4


class DriftRule(_Bound):
    """Two-sided CUSUM of standardised deviations from a slow EWMA baseline, reset on alarm."""

    kind: Literal["drift"]
    k_sigma: NonNeg = 0.5
    h_sigma: Positive = 5.0
    tau_s: PosSeconds = 86_400.0  # baseline and variance time constant
    warmup: Annotated[int, Field(ge=2, le=100_000)] = 30  # samples before the first decision
    sigma_min: Positive = 1e-6  # floor on sigma, in the point's unit (use the quantum)
    hold_s: Seconds = 3600.0  # an alarm clears this long after its last CUSUM crossing
    level: LevelNo = 4
    # "peers": the CUSUM runs on the reading minus the median of the latest readings of the
    # rule's other points (sharing the `peers_scope` tag value when given): a drift of one
    # sensor stands out, network-wide moves cancel
    against: Literal["baseline", "peers"] = "baseline"
    peers_scope: str | None = None
    peer_max_age_s: PosSeconds = 300.0
    max_peers: Annotated[int, Field(ge=1, le=32)] = 8  # the next ones in point order, wrapping


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
    "composite": CompositeRule,
}


class Override(BaseModel):
    """`[[overrides]]`: `rule`, `points` (globs), then any parameters of that rule's kind."""

    model_config = ConfigDict(extra="allow", frozen=True)
    rule: RuleId
    points: Annotated[list[str], Field(min_length=1)]

    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class RuleFile(_Model):
    """The whole file, for its JSON schema; loading validates entry by entry (parse_rule_file)."""

    rules: list[Rule] = Field(default_factory=list)
    overrides: list[Override] = Field(default_factory=list)


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


def format_loc(loc: Sequence[int | str], prefix: str = "") -> str:
    """A pydantic error location as a key path: `rules[2].levels[0].limit`."""
    out = prefix
    parts = list(loc)
    i = 0
    while i < len(parts):
        p = parts[i]
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            if p in RULE_KINDS and out.startswith("rules[") and out.endswith("]"):
                i += 1  # the union's tag, not a key of the file
                continue
            out += f".{p}" if out else p
        i += 1
    return out


def _allowed(err: Any) -> str:
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        return "unknown key (not allowed here)"
    if err["type"] == "union_tag_invalid":
        return f"unknown kind; allowed: {', '.join(sorted(RULE_KINDS))}"
    if err["type"] == "missing":
        return "required key is missing"
    return msg.removeprefix("Value error, ")


def resolve_ref(ref: str | Path, base_dir: Path) -> tuple[str, str]:
    """(display name, TOML text) of a ref; raises RuleError if neither file nor pack."""
    path = Path(ref)
    full = path if path.is_absolute() else base_dir / path
    if full.is_file():
        return str(full), full.read_text(encoding="utf-8")
    name = path.name.removesuffix(".toml")
    if name in PACKS and (path.parent.name in ("packs", "") or str(ref) == name):
        res = resources.files("rules") / "packs" / f"{name}.toml"
        return f"<pack {name}>", res.read_text(encoding="utf-8")
    raise RuleError(
        [
            (
                str(ref),
                "",
                f"no such rule file ({full}) and no packaged pack named so; "
                f"packs: {', '.join(PACKS)}",
            )
        ]
    )


@dataclass
class ParsedFile:
    """The valid entries of one file, with their indices, and the ids of invalid rules."""

    rules: list[tuple[int, RuleBase]] = field(default_factory=list)
    overrides: list[tuple[int, Override]] = field(default_factory=list)
    broken_ids: set[str] = field(default_factory=set)


_RULE: TypeAdapter[RuleBase] = TypeAdapter(Rule)


def parse_rule_file(name: str, text: str) -> tuple[ParsedFile, list[tuple[str, str, str]]]:
    """Validate each entry on its own, so one bad rule does not hide the others' problems."""
    out = ParsedFile()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        return out, [(name, "", f"not valid TOML: {err}")]
    problems = [(name, key, "unknown key; allowed: rules, overrides")
                for key in raw if key not in ("rules", "overrides")]  # fmt: skip
    for key in ("rules", "overrides"):
        items = raw.get(key, [])
        if not isinstance(items, list):
            problems.append((name, key, f"must be an array of tables ([[{key}]])"))
            continue
        for i, item in enumerate(items):
            try:
                if key == "rules":
                    out.rules.append((i, _RULE.validate_python(item)))
                else:
                    out.overrides.append((i, Override.model_validate(item)))
            except ValidationError as err:
                problems.extend(
                    (name, format_loc((key, i, *e["loc"])), _allowed(e)) for e in err.errors()
                )
                if key == "rules" and isinstance(item, dict) and isinstance(item.get("id"), str):
                    out.broken_ids.add(item["id"])
    return out, problems


def load_rules(refs: Sequence[str | Path], base_dir: Path) -> RuleSet:
    """Read, validate and cross-check rule files; raise RuleError with every problem."""
    problems: list[tuple[str, str, str]] = []
    rules: list[RuleBase] = []
    where: dict[str, tuple[str, int]] = {}
    overrides: list[SourcedOverride] = []
    files: list[str] = []
    broken: set[str] = set()
    for ref in refs:
        try:
            name, text = resolve_ref(ref, base_dir)
        except RuleError as err:
            problems.extend(err.problems)
            continue
        files.append(name)
        parsed, errs = parse_rule_file(name, text)
        problems.extend(errs)
        broken |= parsed.broken_ids
        for i, r in parsed.rules:
            if r.id in where:
                f0, i0 = where[r.id]
                problems.append(
                    (
                        name,
                        f"rules[{i}].id",
                        f"duplicate rule id {r.id!r}; first defined in {f0} rules[{i0}]",
                    )
                )
                continue
            where[r.id] = (name, i)
            rules.append(r)
        overrides.extend(SourcedOverride(name, i, o) for i, o in parsed.overrides)
    by_id = {r.id: r for r in rules}
    for so in overrides:
        loc = f"overrides[{so.index}]"
        target = by_id.get(so.override.rule)
        if target is None and so.override.rule in broken:
            continue  # its rule is already reported as invalid
        if target is None:
            problems.append(
                (
                    so.file,
                    f"{loc}.rule",
                    f"unknown rule id {so.override.rule!r}; "
                    f"known: {', '.join(sorted(by_id)) or '(none)'}",
                )
            )
            continue
        if isinstance(target, CompositeRule):
            problems.append((so.file, f"{loc}.rule", f"{target.id!r} is a composite: it has no "
                             "points of its own to override (override its members)"))  # fmt: skip
            continue
        bad = {"id", "kind"} & set(so.override.params())
        for key in sorted(bad):
            problems.append((so.file, f"{loc}.{key}", "cannot be overridden"))
        if bad:
            continue
        try:
            apply_override(target, so.override.params())
        except ValidationError as err:
            problems.extend((so.file, format_loc(e["loc"], loc), _allowed(e)) for e in err.errors())
    problems.extend(_cross_check(rules, where))
    if problems:
        raise RuleError(problems)
    modes = frozenset(m for r in rules for m in (r.modes or ()))
    return RuleSet(tuple(rules), tuple(overrides), tuple(files), modes)


def _cross_check(
    rules: list[RuleBase], where: dict[str, tuple[str, int]]
) -> list[tuple[str, str, str]]:
    """Checks across rules: a composite's members exist, are not composites, can meet `need`."""
    kinds = {r.id: getattr(r, "kind", "") for r in rules}
    out: list[tuple[str, str, str]] = []
    for r in rules:
        if not isinstance(r, CompositeRule):
            continue
        file, i = where[r.id]
        for j, member in enumerate(r.of):
            if member not in kinds:
                out.append((file, f"rules[{i}].of[{j}]", f"unknown rule id {member!r}"))
            elif kinds[member] == "composite":
                out.append((file, f"rules[{i}].of[{j}]", "a composite cannot be a member"))
        if isinstance(r.need, int) and r.count == "rules" and r.need > len(r.of):
            out.append((file, f"rules[{i}].need", f"at most {len(r.of)} (the rules in `of`)"))
    return out
