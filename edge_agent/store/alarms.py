"""The alarms table: every transition of every alarm, and which alarms are active.

An alarm's evidence (rules.events.Evidence: window, baseline, delta, slope, eta, composite
members) is a fact of its transition, kept as a JSON document in the `evidence` column
(NULL on cleared and acked rows and on rows written before the column existed)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from edge_agent.records import AlarmState, AlarmTransition, Evidence, finite

_NAMES = ("alarm_id", "ts_ms", "device", "point", "rule", "kind", "level", "state", "value",
          '"limit"', "unit", "eta_s", "evidence")  # fmt: skip
_COLUMNS = ", ".join(_NAMES)


def columns(alias: str) -> str:
    """The columns `from_row` reads, qualified by a table alias (for joins)."""
    return ", ".join(f"{alias}.{c}" for c in _NAMES)


def insert(conn: sqlite3.Connection, transitions: Sequence[AlarmTransition]) -> list[int]:
    """Insert in order (the caller's transaction); returns each transition's row id."""
    ids = []
    for t in transitions:
        cur = conn.execute(
            f"INSERT INTO alarms({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (t.alarm_id, t.ts_ms, t.device, t.point, t.rule, t.kind, t.level, str(t.state),
             finite(t.value), finite(t.limit), t.unit, t.eta_s, _evidence_text(t.evidence)),
        )  # fmt: skip
        ids.append(int(cur.lastrowid or 0))
    return ids


def _evidence_text(ev: Evidence | None) -> str | None:
    return None if ev is None else json.dumps(ev.to_dict(), separators=(",", ":"))


def from_row(r: Sequence[Any]) -> AlarmTransition:
    """An AlarmTransition from the columns of `columns()`, in that order."""
    (alarm_id, ts_ms, device, point, rule, kind, level, state, value, limit, unit, eta_s,
     evidence) = r  # fmt: skip
    return AlarmTransition(
        alarm_id=str(alarm_id),
        ts_ms=int(ts_ms),
        device=str(device),
        point=str(point),
        rule=str(rule),
        kind=str(kind),
        level=int(level),
        state=AlarmState(state),
        value=float("nan") if value is None else float(value),
        limit=float("nan") if limit is None else float(limit),
        unit=str(unit),
        eta_s=None if eta_s is None else float(eta_s),
        evidence=None if evidence is None else Evidence.from_dict(json.loads(evidence)),
    )


def active(conn: sqlite3.Connection) -> list[AlarmTransition]:
    """The latest transition of every alarm that has not cleared, oldest alarm first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM alarms WHERE id IN "
        "(SELECT max(id) FROM alarms GROUP BY alarm_id) AND state != 'cleared' ORDER BY id"
    ).fetchall()
    return [from_row(r) for r in rows]


def prune_cleared(conn: sqlite3.Connection, before_ts_ms: int) -> int:
    """Forget alarms that cleared before the cutoff (every transition of them)."""
    cur = conn.execute(
        "DELETE FROM alarms WHERE alarm_id IN (SELECT alarm_id FROM alarms "
        "WHERE state = 'cleared' AND ts_ms < ?)",
        (before_ts_ms,),
    )
    return cur.rowcount


def recent(conn: sqlite3.Connection, n: int) -> list[AlarmTransition]:
    """The last `n` alarm transitions, newest first."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM alarms ORDER BY id DESC LIMIT ?", (n,))
    return [from_row(r) for r in rows.fetchall()]


def raised_at(conn: sqlite3.Connection, alarm_ids: Sequence[str]) -> dict[str, int]:
    """When each of these alarms was raised (the ts of its first transition)."""
    if not alarm_ids:
        return {}
    marks = ",".join("?" * len(alarm_ids))
    rows = conn.execute(
        f"SELECT alarm_id, min(ts_ms) FROM alarms WHERE alarm_id IN ({marks}) GROUP BY alarm_id",
        list(alarm_ids),
    )
    return {str(a): int(ts) for a, ts in rows.fetchall()}
