"""`buffer stats|export` on a real SQLite file in WAL mode, as the daemon leaves it."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.cli.buffer_cmd import parse_time
from edge_agent.cli.options import UsageError
from tests.unit.edge_agent.cli.support import REPO, run_cli
from tests.unit.edge_agent.store.query_support import T0, make_buffer


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "buffer.db"
    conn = make_buffer(path)
    try:
        yield path
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", T0),
        ("2h", T0 - 7_200_000),
        ("-30m", T0 - 1_800_000),
        ("1.5d", T0 - 129_600_000),
        ("2026-11-24T16:00", T0),
        ("2026-11-24T16:00:00Z", T0),
        ("2026-11-25T00:00+08:00", T0),
        ("2026-11-24", T0 - 16 * 3_600_000),
        ("1795536000000", T0),
    ],
)
def test_times(text: str, expected: int) -> None:
    assert parse_time(text, now=T0) == expected


def test_bad_time_says_what_is_accepted() -> None:
    with pytest.raises(UsageError, match=r"not a time: 'yesterday' \(use 2026-11-24T08:00"):
        parse_time("yesterday", now=T0)


def test_cli_export_csv_to_stdout(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "buffer",
        "export",
        "--db",
        str(db),
        "--since",
        "2026-11-24T16:00",
        "--until",
        "2026-11-24T16:01",
        "--points",
        "pt-*",
    ]
    assert run_cli(argv) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows == [
        ["ts", "ts_ms", "point", "value", "quality", "reason"],
        ["2026-11-24T16:00:00.000Z", str(T0), "pt-101/pressure", "0.4", "good", ""],
        ["2026-11-24T16:00:00.000Z", str(T0), "pt-102/pressure", "", "bad", "timeout"],
    ]


def test_cli_export_jsonl_to_a_file(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "export.jsonl"
    argv = [
        "buffer",
        "export",
        "--db",
        str(db),
        "--format",
        "jsonl",
        "-o",
        str(out),
        "--points",
        "pt-102/pressure",
    ]
    assert run_cli(argv) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 10
    assert lines[0] == {
        "ts_ms": T0,
        "device": "pt-102",
        "point": "pressure",
        "value": None,
        "quality": "bad",
        "reason": "timeout",
    }
    assert capsys.readouterr().err == f"exported 10 readings to {out}\n"
    assert not out.with_name("export.jsonl.part").exists()


def test_cli_export_finds_the_buffer_through_the_config(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(f'[gateway]\nid = "gw-1"\nsite = "s"\ndata_dir = "{tmp_path}"\n')
    assert run_cli(["buffer", "export", "-c", str(cfg), "--since", "1795536540000"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + 3


def test_cli_stats_table_and_json(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["buffer", "stats", "--db", str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == (
        "readings: 30 rows, 3 points, 2026-11-24T16:00:00.000Z .. 2026-11-24T16:09:00.000Z"
    )
    assert out[2] == "quality: bad 10, good 20"
    assert out[3] == "rows per table: outbox 4, readings 30"
    assert run_cli(["buffer", "stats", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tables"]["readings"] == 30


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2h", "--until", "3h"], "--since (2026-"),
        (["--since", "soon"], "not a time: 'soon'"),
        (["--points", "a b"], "not a point pattern: 'a b'"),
    ],
)
def test_cli_export_mistakes_are_one_line(
    db: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["buffer", "export", "--db", str(db), *args]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_cli_export_to_an_unwritable_place_is_one_line(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no-such-dir" / "x.csv"
    assert run_cli(["buffer", "export", "--db", str(db), "-o", str(target)]) == 1
    assert capsys.readouterr().err.startswith(f"edge-agent: error: cannot write {target}: ")


def test_export_into_head_ends_quietly(db: Path, tmp_path: Path) -> None:
    code = (
        "import sys; from tests.unit.edge_agent.cli.support import run_cli; "
        f"sys.exit(run_cli(['buffer', 'export', '--db', {str(db)!r}]))"
    )
    conn = sqlite3.connect(db)  # enough rows to overflow the pipe buffer
    conn.executemany(
        "INSERT INTO readings VALUES ('pt-9', 'pressure', ?, 0.5, 'good', NULL)",
        [(T0 + i,) for i in range(50_000)],
    )
    conn.commit()
    conn.close()
    proc = subprocess.run(
        f'{sys.executable} -c "{code}" 2>{tmp_path}/err.txt | head -n 2; '
        "echo rc=${PIPESTATUS[0]}",
        shell=True,
        executable="/bin/bash",
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout.splitlines()[0] == "ts,ts_ms,point,value,quality,reason"
    assert proc.stdout.splitlines()[-1] == "rc=0"
    assert (tmp_path / "err.txt").read_text() == ""


def test_cli_missing_buffer_says_where_it_looked_and_what_to_try(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["buffer", "stats", "--db", str(tmp_path / "absent.db")]) == 1
    assert capsys.readouterr().err == (
        f"edge-agent: error: no buffer at {tmp_path / 'absent.db'} "
        "(has the agent run with this data_dir? use --db for a copy)\n"
    )
