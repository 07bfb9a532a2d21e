"""Read-only queries of buffer.db."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.errors import EdgeAgentError
from edge_agent.store.errors import StoreError
from edge_agent.store.query import buffer_stats, export_readings, reading_columns
from rules.backtest.readings import readings_from_columns
from tests.unit.edge_agent.store.query_support import T0, make_buffer


def test_buffer_db_readings(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE readings (ts_ms INTEGER, device TEXT, point TEXT, value REAL, "
                "quality TEXT)")  # fmt: skip
    rows = [(2000, "pt-1", "pressure", 0.1, "good"), (1000, "pt-1", "pressure", None, "bad")]
    con.executemany("INSERT INTO readings VALUES (?,?,?,?,?)", rows)
    con.commit()
    con.close()
    c = reading_columns(db)
    r = readings_from_columns(c.keys, c.point_idx, c.ts_ms, c.value, c.quality)
    assert r.keys == ["pt-1/pressure"]
    assert r.ts_ms.tolist() == [1000, 2000]
    assert r.good.tolist() == [0, 1]


def test_reading_columns_are_oldest_first_with_nan_for_null(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE readings (ts INTEGER, device TEXT, point TEXT, value REAL)")
    con.executemany("INSERT INTO readings VALUES (?,?,?,?)",
                    [(3, "b", "y", 1.0), (1, "a", "x", None), (2, "b", "y", 2.0)])  # fmt: skip
    con.commit()
    con.close()
    c = reading_columns(db)  # an old file: `ts`, no quality column (all good)
    assert c.keys == ["a/x", "b/y"]
    assert (list(c.point_idx), list(c.ts_ms), c.quality) == ([0, 1, 1], [1, 2, 3], ["good"] * 3)
    assert str(c.value[0]) == "nan"
    assert list(c.value[1:]) == [2.0, 1.0]


def test_a_file_without_readings_is_one_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    sqlite3.connect(db).close()
    with pytest.raises(StoreError, match=r"other\.db: no `readings` table"):
        reading_columns(db)


# ---------------------------------------------------------------- export, stats


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "buffer.db"
    conn = make_buffer(path)
    try:
        yield path
    finally:
        conn.close()


def test_export_rows_in_time_order_within_since_until(db: Path) -> None:
    rows = list(export_readings(db, T0 + 60_000, T0 + 180_000))
    assert [r.ts_ms for r in rows] == [T0 + 60_000] * 3 + [T0 + 120_000] * 3
    assert [f"{r.device}/{r.point}" for r in rows[:3]] == [
        "mh-7/methane_lel",
        "pt-101/pressure",
        "pt-102/pressure",
    ]


def test_export_rows_filters_by_point_globs(db: Path) -> None:
    rows = list(export_readings(db, None, None, ["pt-*/pressure"]))
    assert {r.device for r in rows} == {"pt-101", "pt-102"}
    assert len(rows) == 20
    assert list(export_readings(db, None, None, ["nothing/*"])) == []


def test_export_reads_while_the_agent_holds_a_write_transaction(db: Path) -> None:
    writer = sqlite3.connect(db)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO readings VALUES ('pt-101', 'pressure', 1, 0.1, 'good', NULL)")
    try:
        assert len(list(export_readings(db))) == 30  # WAL: the uncommitted row is not seen
    finally:
        writer.rollback()
        writer.close()


def test_export_never_writes_to_the_buffer(db: Path) -> None:
    before = db.read_bytes()
    list(export_readings(db))
    buffer_stats(db)
    assert db.read_bytes() == before


def test_stats_counts_tables_and_the_time_span(db: Path) -> None:
    stats = buffer_stats(db)
    assert stats["tables"] == {"outbox": 4, "readings": 30}
    assert stats["readings"] == {
        "count": 30,
        "points": 3,
        "oldest_ts_ms": T0,
        "newest_ts_ms": T0 + 9 * 60_000,
        "by_quality": {"bad": 10, "good": 20},
    }


def test_missing_buffer_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(EdgeAgentError, match=r"no buffer at .*/absent\.db"):
        buffer_stats(tmp_path / "absent.db")


def test_a_file_that_is_not_a_buffer_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(EdgeAgentError, match="has no readings table"):
        list(export_readings(other))
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(EdgeAgentError, match="cannot read"):
        buffer_stats(junk)
