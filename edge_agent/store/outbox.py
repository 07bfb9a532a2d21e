"""The outbox: every message owed to the platform, until the broker acknowledges it.

A row is born *open* (seq NULL) and is *sealed* just before its first publish: it
gets the next `seq` and its body is frozen. Sealing takes alarm and action events, in
the order they were stored, before telemetry
(alarm-first delivery out of a backlog) and joins the open telemetry rows of one
device into one message up to a size bound, so a long outage drains in few, large
messages. Sealed rows are published in `seq` order and deleted on PUBACK; after a
reconnect or restart they are resent as they are, so a duplicate repeats its `seq`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from edge_agent.records import ActionEvent, AlarmTransition, Reading
from edge_agent.store import actions, alarms
from edge_agent.store import seq as counters

Kind = Literal["alarm", "telemetry", "action"]


class ReadingsCodec(Protocol):
    """How telemetry readings are kept in the outbox until they are sent: the uplink's
    choice (it alone knows the wire format), handed to the store at construction.

    A long outage drains faster when stored bodies can be joined without decoding them:
    `encode` makes one body from a poll's readings, and bodies of one device joined with
    `separator` must be a valid body too."""

    separator: str

    def encode(self, readings: Sequence[Reading]) -> str: ...


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One sealed message. An alarm row carries its transition (a fact of the alarms
    table, encoded at send), an action row its decision (the actions table); a telemetry
    row carries its stored readings `body`.

    `body` of an alarm row is empty, except in rows written by edge-agent 0.1, which kept
    the alarm event's JSON there (`alarm` is None for those)."""

    seq: int
    kind: Kind
    gateway: str
    device: str
    point: str | None
    n: int
    body: str
    alarm: AlarmTransition | None = None
    action: ActionEvent | None = None


def add_telemetry(
    conn: sqlite3.Connection,
    *,
    gateway: str,
    device: str,
    fragment: str,
    n: int,
    reading_lo: int,
    created_ms: int,
) -> None:
    conn.execute(
        "INSERT INTO outbox(kind, gateway, device, n, reading_lo, body, created_ms) "
        "VALUES ('telemetry', ?, ?, ?, ?, ?, ?)",
        (gateway, device, n, reading_lo, fragment, created_ms),
    )


def add_alarm(
    conn: sqlite3.Connection, *, gateway: str, device: str, point: str, alarm_ref: int,
    created_ms: int,
) -> None:  # fmt: skip
    """An alarm event owed to the platform: a reference to its row in `alarms`."""
    conn.execute(
        "INSERT INTO outbox(kind, gateway, device, point, n, body, alarm_ref, created_ms) "
        "VALUES ('alarm', ?, ?, ?, 1, '', ?, ?)",
        (gateway, device, point, alarm_ref, created_ms),
    )


def add_action(
    conn: sqlite3.Connection, *, gateway: str, device: str, point: str, action_ref: int,
    created_ms: int,
) -> None:  # fmt: skip
    """An action event owed to the platform: a reference to its row in `actions`."""
    conn.execute(
        "INSERT INTO outbox(kind, gateway, device, point, n, body, action_ref, created_ms) "
        "VALUES ('action', ?, ?, ?, 1, '', ?, ?)",
        (gateway, device, point, action_ref, created_ms),
    )


_ALARM_COLS = 1 + len(alarms.columns("a").split(","))


def sealed(conn: sqlite3.Connection, after_seq: int, limit: int) -> list[OutboxRow]:
    rows = conn.execute(
        f"SELECT o.seq, o.kind, o.gateway, o.device, o.point, o.n, o.body, a.id, "
        f"{alarms.columns('a')}, x.id, {actions.columns('x')} FROM outbox o "
        "LEFT JOIN alarms a ON a.id = o.alarm_ref LEFT JOIN actions x ON x.id = o.action_ref "
        "WHERE o.seq > ? ORDER BY o.seq LIMIT ?",
        (after_seq, limit),
    ).fetchall()
    k = 7 + _ALARM_COLS  # where the action's columns start
    return [
        OutboxRow(
            seq=r[0], kind=r[1], gateway=r[2], device=r[3], point=r[4], n=r[5], body=r[6],
            alarm=None if r[7] is None else alarms.from_row(r[8:k]),
            action=None if r[k] is None else actions.from_row(r[k + 1 :]),
        )
        for r in rows
    ]  # fmt: skip


def seal(conn: sqlite3.Connection, limit: int, max_body_bytes: int, separator: str) -> int:
    """Seal up to `limit` open messages (the caller's transaction). Returns how many."""
    seq = counters.next_seq(conn)
    count = 0
    alarm_rows = conn.execute(
        "SELECT id FROM outbox WHERE seq IS NULL AND kind IN ('alarm', 'action') "
        "ORDER BY id LIMIT ?",
        (limit,),
    ).fetchall()
    for (row_id,) in alarm_rows:
        conn.execute("UPDATE outbox SET seq = ? WHERE id = ?", (seq, row_id))
        seq += 1
        count += 1
    while count < limit:
        head = conn.execute(
            "SELECT device FROM outbox WHERE seq IS NULL AND kind = 'telemetry' ORDER BY id LIMIT 1"
        ).fetchone()
        if head is None:
            break
        _seal_device(conn, head[0], seq, max_body_bytes, separator)
        seq += 1
        count += 1
    if count:
        counters.set_next_seq(conn, seq)
    return count


def has_open(conn: sqlite3.Connection) -> bool:
    """Whether any message waits to be sealed (cheap: no write, no fsync)."""
    return conn.execute("SELECT 1 FROM outbox WHERE seq IS NULL LIMIT 1").fetchone() is not None


def _seal_device(
    conn: sqlite3.Connection, device: str, seq: int, max_body_bytes: int, separator: str
) -> None:
    """Join the oldest open telemetry rows of one device into its head row, and seal it."""
    ids: list[int] = []
    bodies: list[str] = []
    n_total = 0
    lo: int | None = None
    size = 0
    cur = conn.execute(
        "SELECT id, n, reading_lo, body FROM outbox "
        "WHERE seq IS NULL AND kind = 'telemetry' AND device = ? ORDER BY id",
        (device,),
    )
    for row_id, n, reading_lo, body in cur:
        if ids and size + len(body) + len(separator) > max_body_bytes:
            break
        ids.append(row_id)
        bodies.append(body)
        n_total += n
        lo = reading_lo if lo is None else min(lo, reading_lo)
        size += len(body) + len(separator)
    cur.close()
    head, rest = ids[0], ids[1:]
    if rest:
        conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in rest])
        conn.execute(
            "UPDATE outbox SET seq = ?, n = ?, reading_lo = ?, body = ? WHERE id = ?",
            (seq, n_total, lo, separator.join(bodies), head),
        )
    else:
        conn.execute("UPDATE outbox SET seq = ? WHERE id = ?", (seq, head))


def delete(conn: sqlite3.Connection, seqs: Iterable[int]) -> int:
    cur = conn.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
    return cur.rowcount


def depth(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows and readings still owed, by kind."""
    out = {"alarm": 0, "telemetry": 0, "action": 0, "readings": 0}
    for kind, rows, n in conn.execute("SELECT kind, count(*), sum(n) FROM outbox GROUP BY kind"):
        out[kind] = int(rows)
        if kind == "telemetry":
            out["readings"] = int(n or 0)
    return out


def drop_oldest_telemetry(conn: sqlite3.Connection, rows: int) -> tuple[int, int]:
    """Drop up to `rows` of the oldest open telemetry rows; returns (rows, readings)."""
    victims = conn.execute(
        "SELECT id, n FROM outbox WHERE seq IS NULL AND kind = 'telemetry' ORDER BY id LIMIT ?",
        (rows,),
    ).fetchall()
    conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i, _ in victims])
    return len(victims), sum(int(n) for _, n in victims)


def oldest_created_ms(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT min(created_ms) FROM outbox").fetchone()
    return None if row is None or row[0] is None else int(row[0])
