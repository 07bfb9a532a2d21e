"""Bind rules to points: which (rule, point) pairs exist, with overrides applied.

`bind_rules` gives, per kind, the list of `Binding`s in a stable order (rule
file order, then point order). `Csr` maps each point to the binding indices of
one kind that run in the current mode, so a batch of samples can be expanded
into a batch of (binding, sample) pairs with NumPy alone.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rules.events import PointMeta
from rules.spec import RuleBase, RuleSet, apply_override


@dataclass(frozen=True)
class Binding:
    """One rule applied to one point (`rule` has that point's overrides applied)."""

    rule: RuleBase
    point_idx: int


def selects(rule: RuleBase, meta: PointMeta) -> bool:
    """Do the rule's selectors (all that are given) match this point?"""
    if rule.points is not None and not any(
        fnmatch.fnmatchcase(meta.key, pat) for pat in rule.points
    ):
        return False
    if rule.quantity is not None and rule.quantity != meta.quantity:
        return False
    ref = getattr(rule, "relative_to", None)
    if ref is not None and tag_number(meta, ref) is None:
        return False
    if rule.tags is not None:
        for k, v in rule.tags.items():
            if not fnmatch.fnmatchcase(meta.tags.get(k, "\0"), v):
                return False
    excluded = bool(rule.not_tags) and all(
        fnmatch.fnmatchcase(meta.tags.get(k, "\0"), v) for k, v in (rule.not_tags or {}).items()
    )
    return not excluded


def tag_number(meta: PointMeta, name: str) -> float | None:
    """A numeric tag of the point (`rim_depth_m = "2.6"`), or None when absent or not a number."""
    raw = meta.tags.get(name)
    try:
        return None if raw is None else float(raw)
    except ValueError:
        return None


def effective_rule(ruleset: RuleSet, rule: RuleBase, meta: PointMeta) -> RuleBase:
    """The rule as it applies to this point: its overrides, in file order, win."""
    out = rule
    for so in ruleset.overrides:
        o = so.override
        if o.rule == rule.id and any(fnmatch.fnmatchcase(meta.key, p) for p in o.points):
            out = apply_override(out, o.params())
    return out


def bind_rules(ruleset: RuleSet, points: Sequence[PointMeta]) -> dict[str, list[Binding]]:
    """Per sample kind, every (rule, point) binding of enabled rules, overrides applied."""
    out: dict[str, list[Binding]] = {}
    for rule in ruleset.rules:
        kind = str(getattr(rule, "kind", ""))
        if kind == "composite":
            continue  # bound to other rules' bindings, by rules.tables.composite
        for i, meta in enumerate(points):
            if not selects(rule, meta):
                continue
            eff = effective_rule(ruleset, rule, meta)
            if eff.enabled:
                out.setdefault(kind, []).append(Binding(eff, i))
    return out


def in_mode(rule: RuleBase, mode: str) -> bool:
    return rule.modes is None or mode in rule.modes


@dataclass
class Csr:
    """Point → binding indices of one kind, as compressed rows (`ptr[p]:ptr[p+1]` in `idx`)."""

    ptr: np.ndarray  # int64[n_points + 1]
    idx: np.ndarray  # int64[n]

    @classmethod
    def build(cls, bindings: Sequence[Binding], n_points: int, mode: str) -> Csr:
        rows: list[list[int]] = [[] for _ in range(n_points)]
        for b, bd in enumerate(bindings):
            if in_mode(bd.rule, mode):
                rows[bd.point_idx].append(b)
        counts = np.array([len(r) for r in rows], dtype=np.int64)
        ptr = np.zeros(n_points + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        idx = np.array([b for r in rows for b in r], dtype=np.int64)
        return cls(ptr, idx)

    def expand(self, point_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(binding index, sample index) pairs for a batch of samples, in sample order."""
        starts = self.ptr[point_idx]
        counts = self.ptr[point_idx + 1] - starts
        total = int(counts.sum())
        sample = np.repeat(np.arange(point_idx.shape[0], dtype=np.int64), counts)
        if total == 0:
            return np.empty(0, dtype=np.int64), sample
        # position within each sample's run: global position minus the run's first position
        first = np.repeat(np.cumsum(counts) - counts, counts)
        pos = np.arange(total, dtype=np.int64) - first + np.repeat(starts, counts)
        return np.ascontiguousarray(self.idx[pos]), sample
