"""The actions table: every decided write, and the gateway's note of a write under way.

A write the gateway is about to make is first kept as `pending` (committed before the
frame goes out); its outcome replaces it, together with the outbox row that owes the
event to the platform. A `pending` row found at start is a write the gateway may have
made before it stopped: the daemon settles it by reading the point back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from edge_agent.records import ActionEvent, ActionState, finite

_NAMES = ("event_id", "ts_ms", "device", "point", "action", "alarm_id", "value", "state",
          "reason", "read_back")  # fmt: skip
_COLUMNS = ", ".join(_NAMES)
# Decisions that count as "taken" for an alarm: not repeated after a restart.
TAKEN = (ActionState.DONE, ActionState.DRY_RUN, ActionState.PENDING)


def columns(alias: str) -> str:
    """The columns `from_row` reads, qualified by a table alias (for joins)."""
    return ", ".join(f"{alias}.{c}" for c in _NAMES)


def _values(e: ActionEvent) -> tuple[Any, ...]:
    return (e.event_id, e.ts_ms, e.device, e.point, e.action, e.alarm_id, finite(e.value),
            str(e.state), e.reason, finite(e.read_back))  # fmt: skip


def insert(conn: sqlite3.Connection, event: ActionEvent) -> int:
    cur = conn.execute(
        f"INSERT INTO actions({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", _values(event)
    )
    return int(cur.lastrowid or 0)


def update(conn: sqlite3.Connection, row_id: int, event: ActionEvent) -> None:
    sets = ", ".join(f"{c} = ?" for c in _NAMES)
    conn.execute(f"UPDATE actions SET {sets} WHERE id = ?", (*_values(event), row_id))


def from_row(r: Sequence[Any]) -> ActionEvent:
    """An ActionEvent from the columns of `columns()`, in that order."""
    (event_id, ts_ms, device, point, action, alarm_id, value, state, reason, read_back) = r
    return ActionEvent(
        event_id=str(event_id),
        ts_ms=int(ts_ms),
        device=str(device),
        point=str(point),
        action=str(action),
        alarm_id=None if alarm_id is None else str(alarm_id),
        value=float("nan") if value is None else float(value),
        state=ActionState(state),
        reason=None if reason is None else str(reason),
        read_back=None if read_back is None else float(read_back),
    )


def taken(conn: sqlite3.Connection, alarm_ids: Sequence[str]) -> set[tuple[str, str, str]]:
    """(action, alarm_id, device/point) already acted on (done, dry-run or under way)."""
    if not alarm_ids:
        return set()
    marks = ",".join("?" * len(alarm_ids))
    states = ",".join(f"'{s}'" for s in TAKEN)
    rows = conn.execute(
        f"SELECT DISTINCT action, alarm_id, device || '/' || point FROM actions "
        f"WHERE alarm_id IN ({marks}) "
        f"AND state IN ({states})",
        list(alarm_ids),
    )
    return {(str(a), str(i), str(k)) for a, i, k in rows.fetchall()}


def pending(conn: sqlite3.Connection) -> list[tuple[int, ActionEvent]]:
    rows = conn.execute(
        f"SELECT id, {_COLUMNS} FROM actions WHERE state = 'pending' ORDER BY id"
    ).fetchall()
    return [(int(r[0]), from_row(r[1:])) for r in rows]


def recent(conn: sqlite3.Connection, n: int) -> list[ActionEvent]:
    """The last `n` decisions (pending ones left out), newest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM actions WHERE state != 'pending' ORDER BY id DESC LIMIT ?", (n,)
    )
    return [from_row(r) for r in rows.fetchall()]


def prune(conn: sqlite3.Connection, before_ts_ms: int) -> int:
    """Forget decisions older than the cutoff that are no longer owed to the platform."""
    cur = conn.execute(
        "DELETE FROM actions WHERE ts_ms < ? AND state != 'pending' AND id NOT IN "
        "(SELECT action_ref FROM outbox WHERE action_ref IS NOT NULL)",
        (before_ts_ms,),
    )
    return cur.rowcount
