"""The points a replay binds rules to: from a points.csv, or inferred from the data's keys."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from rules.errors import RuleError
from rules.events import PointMeta


def load_points_csv(path: Path) -> list[PointMeta]:
    """Points from a points.csv (shared/data/detection format); `limits` JSON joins the tags."""
    out: list[PointMeta] = []
    with path.open(newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            try:
                device, point = row["point"].strip().split("/", 1)
                tags = {k: str(v) for k, v in json.loads(row.get("tags") or "{}").items()}
                limits = json.loads(row.get("limits") or "{}")
                tags.update({k: str(v) for k, v in limits.items()})
                lo, hi = (row.get("range_lo") or "").strip(), (row.get("range_hi") or "").strip()
                out.append(PointMeta(
                    device, point, (row.get("quantity") or point).strip(),
                    (row.get("unit") or "").strip(),
                    float(lo) if lo else float("-inf"), float(hi) if hi else float("inf"), tags,
                ))  # fmt: skip
            except (ValueError, KeyError, AttributeError) as err:
                raise RuleError([(str(path), f"line {line}", f"bad point row: {err}")]) from err
    return out


def infer_points(keys: Sequence[str]) -> list[PointMeta]:
    """Points known only by name: quantity = the point's own name."""
    out = []
    for key in keys:
        device, _, point = key.partition("/")
        out.append(PointMeta(device, point, point, ""))
    return out
