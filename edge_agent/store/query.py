"""Read-only queries of buffer.db: the one place the buffer's read SQL lives (CLI buffer
commands, backtest input).

The file is opened read-only (`mode=ro`, `query_only`) straight from disk, so these
queries work whether the agent runs or not, and on a copy taken off a gateway.
SQLite's WAL lets them read while the agent writes.
"""

from __future__ import annotations

import math
import sqlite3
import urllib.parse
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from edge_agent.store.errors import StoreError


@dataclass
class ReadingColumns:
    """Every reading of a buffer.db as columns, oldest first; row i is `keys[point_idx[i]]`.

    What `edge-agent rules backtest --data buffer.db` hands to
    rules.backtest.readings_from_columns: plain columns, so rules need no SQL.
    """

    keys: list[str] = field(default_factory=list)  # "device/point", in order of first row
    point_idx: array[int] = field(default_factory=lambda: array("q"))
    ts_ms: array[int] = field(default_factory=lambda: array("q"))
    value: array[float] = field(default_factory=lambda: array("d"))  # NaN where NULL
    quality: list[str] = field(default_factory=list)  # good | uncertain | bad

    def __len__(self) -> int:
        return len(self.ts_ms)


class ReadingRow(NamedTuple):
    device: str
    point: str
    ts_ms: int
    value: float | None
    quality: str
    reason: str | None


def open_readonly(db_path: Path) -> sqlite3.Connection:
    """Open a buffer.db read-only; a missing or unreadable file is one clear StoreError."""
    if not db_path.is_file():
        raise StoreError(f"no buffer at {db_path}")
    uri = f"file:{urllib.parse.quote(str(db_path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=5.0)
        conn.execute("PRAGMA query_only = 1")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as err:
        raise StoreError(
            f"cannot read {db_path}: {err} (members of the edge-agent group may read it; try sudo)"
        ) from err
    return conn


def table_names(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    )
    return [str(r[0]) for r in rows]


def buffer_stats(db_path: Path) -> dict[str, Any]:
    """What is in buffer.db: size, row count per table, the readings' time span."""
    conn = open_readonly(db_path)
    try:
        tables = {
            t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])
            for t in table_names(conn)
        }
        wal = db_path.with_name(db_path.name + "-wal")
        stats: dict[str, Any] = {
            "db": str(db_path),
            "bytes": db_path.stat().st_size,
            "wal_bytes": wal.stat().st_size if wal.exists() else 0,
            "tables": tables,
        }
        if "readings" in tables:
            lo, hi, n_points = conn.execute(
                "SELECT min(ts_ms), max(ts_ms), count(DISTINCT device || '/' || point) "
                "FROM readings"
            ).fetchone()
            by_quality = dict(
                conn.execute(
                    "SELECT quality, count(*) FROM readings GROUP BY quality ORDER BY quality"
                )
            )
            stats["readings"] = {
                "count": tables["readings"],
                "points": int(n_points),
                "oldest_ts_ms": lo,
                "newest_ts_ms": hi,
                "by_quality": {str(k): int(v) for k, v in by_quality.items()},
            }
        return stats
    except sqlite3.Error as err:
        raise StoreError(f"cannot read {db_path}: {err}") from err
    finally:
        conn.close()


def export_readings(
    db_path: Path,
    since_ms: int | None = None,
    until_ms: int | None = None,
    points: Sequence[str] = (),
) -> Iterator[ReadingRow]:
    """Readings with since_ms <= ts_ms < until_ms, oldest first, optionally only the
    points matching any of the `device/point` globs. Streams: memory stays flat."""
    conn = open_readonly(db_path)
    try:
        if "readings" not in table_names(conn):
            raise StoreError(f"{db_path} has no readings table: not an edge-agent buffer?")
        where = ["ts_ms >= ?", "ts_ms < ?"]
        args: list[Any] = [since_ms if since_ms is not None else -(2**62), until_ms or 2**62]
        if points:
            where.append("(" + " OR ".join(["(device || '/' || point) GLOB ?"] * len(points)) + ")")
            args += list(points)
        sql = (
            "SELECT device, point, ts_ms, value, quality, reason FROM readings "
            f"WHERE {' AND '.join(where)} ORDER BY ts_ms, device, point"
        )
        try:
            for device, point, ts, value, quality, reason in conn.execute(sql, args):
                yield ReadingRow(str(device), str(point), int(ts), value, str(quality), reason)
        except sqlite3.Error as err:
            raise StoreError(f"cannot read readings from {db_path}: {err}") from err
    finally:
        conn.close()


def reading_columns(db_path: Path) -> ReadingColumns:
    """All readings of `db_path` as columns, oldest first (a backtest's input).

    Table `readings` with `ts_ms` (or `ts`), device, point, value and quality columns
    (no quality column: all good). Raises StoreError naming the file.
    """
    conn = open_readonly(db_path)
    try:
        cols = {r[1] for r in conn.execute("PRAGMA table_info(readings)")}
        if not cols:
            raise StoreError(f"{db_path}: no `readings` table")
        ts = "ts_ms" if "ts_ms" in cols else "ts"
        q = "quality" if "quality" in cols else "'good'"
        out = ReadingColumns()
        index: dict[str, int] = {}
        words: dict[str, str] = {}  # one str per quality word, shared by its rows
        rows = conn.execute(f"SELECT {ts}, device, point, value, {q} FROM readings ORDER BY {ts}")
        for t, device, point, value, quality in rows:
            out.point_idx.append(index.setdefault(f"{device}/{point}", len(index)))
            out.ts_ms.append(int(t))
            out.value.append(math.nan if value is None else float(value))
            word = str(quality)
            out.quality.append(words.setdefault(word, word))
        out.keys = list(index)
        return out
    except sqlite3.Error as err:
        raise StoreError(f"{db_path}: cannot read readings: {err}") from err
    finally:
        conn.close()
