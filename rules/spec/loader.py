"""Rule files: `load_rules(refs, base_dir) -> RuleSet`, and each fault as a problem.

A rule file holds `[[rules]]` (a discriminated union on `kind`) and
`[[overrides]]` (per-point parameter changes that win over the rule's own).
A ref is a path relative to `base_dir`, or a packaged pack: `gas`, `water`,
`drainage`, or a path such as `rules/packs/gas.toml` that is not on disk.
Every fault becomes one `(file, key path, what is allowed)` problem and the
whole set is refused with `RuleError`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from rules.errors import RuleError
from rules.spec.actions import Action
from rules.spec.base import RuleBase
from rules.spec.composite import CompositeRule
from rules.spec.kinds import RULE_KINDS, Rule
from rules.spec.ruleset import Override, RuleSet, SourcedOverride, apply_override

PACKS = ("gas", "water", "drainage")


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
    try:
        if full.is_file():
            return str(full), full.read_text(encoding="utf-8")
    except OSError as err:  # too long a name, no permission, an I/O error
        raise RuleError([(str(ref), "", f"cannot read {full}: {err.strerror}")]) from err
    except UnicodeDecodeError as err:
        raise RuleError([(str(full), "", f"not a text file (UTF-8): {err.reason}")]) from err
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
    actions: list[tuple[int, Action]] = field(default_factory=list)
    broken_ids: set[str] = field(default_factory=set)


_RULE: TypeAdapter[RuleBase] = TypeAdapter(Rule)
_SECTIONS = ("rules", "overrides", "actions")


def parse_rule_file(name: str, text: str) -> tuple[ParsedFile, list[tuple[str, str, str]]]:
    """Validate each entry on its own, so one bad rule does not hide the others' problems."""
    out = ParsedFile()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        return out, [(name, "", f"not valid TOML: {err}")]
    problems = [(name, key, "unknown key; allowed: rules, overrides, actions")
                for key in raw if key not in _SECTIONS]  # fmt: skip
    for key in _SECTIONS:
        items = raw.get(key, [])
        if not isinstance(items, list):
            problems.append((name, key, f"must be an array of tables ([[{key}]])"))
            continue
        for i, item in enumerate(items):
            try:
                if key == "rules":
                    out.rules.append((i, _RULE.validate_python(item)))
                elif key == "actions":
                    out.actions.append((i, Action.model_validate(item)))
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
    actions: list[tuple[str, int, Action]] = []
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
        actions.extend((name, i, a) for i, a in parsed.actions)
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
    problems.extend(_check_actions(actions, by_id, broken))
    if problems:
        raise RuleError(problems)
    modes = frozenset(m for r in rules for m in (r.modes or ()))
    modes |= {m for _, _, a in actions for m in (a.modes or ())}
    return RuleSet(
        tuple(rules), tuple(overrides), tuple(files), modes,
        actions=tuple(a for _, _, a in actions),
        action_sources=tuple((f, i) for f, i, _ in actions),
    )  # fmt: skip


def _check_actions(
    actions: list[tuple[str, int, Action]], rules: dict[str, RuleBase], broken: set[str]
) -> list[tuple[str, str, str]]:
    """Action ids are unique and each is bound to a rule of the set."""
    out: list[tuple[str, str, str]] = []
    seen: dict[str, tuple[str, int]] = {}
    for file, i, a in actions:
        if a.id in seen:
            f0, i0 = seen[a.id]
            out.append(
                (
                    file,
                    f"actions[{i}].id",
                    f"duplicate action id {a.id!r}; first defined in {f0} actions[{i0}]",
                )
            )
        seen.setdefault(a.id, (file, i))
        if a.on.rule not in rules and a.on.rule not in broken:
            out.append(
                (
                    file,
                    f"actions[{i}].on.rule",
                    f"unknown rule id {a.on.rule!r}; known: {', '.join(sorted(rules)) or '(none)'}",
                )
            )
    return out  # fmt: skip


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
