"""`edge-agent tail` against a fake agent: filters, counts, JSON lines, quiet pipes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.edge_agent.cli.support import REPO, FakeAgent, run_cli


def test_tail_prints_readings_with_quality_and_alarms_then_stops_at_count(
    agent: FakeAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run_cli(["tail", "--socket", str(agent.path), "pt-101", "mh-*/methane_lel", "--count", "4"])
        == 0
    )
    assert agent.requests == [
        ("tail", {"points": ["pt-101/*", "mh-*/methane_lel"], "alarms": True})
    ]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5  # four readings and the alarm between them
    assert lines[1] == "2026-11-24T16:01:03.120Z  pt-101/pressure  nan MPa  bad (timeout)"
    assert "ALARM raised level 1 red" in lines[3]


def test_tail_bad_only_as_json_lines(agent: FakeAgent, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["tail", "--socket", str(agent.path), "--bad", "--no-alarms", "--json", "--count", "1"]
    assert run_cli(argv) == 0
    assert agent.requests == [("tail", {"points": [], "alarms": False})]
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["reason"] == "timeout"


def test_tail_rejects_a_point_pattern_with_spaces(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["tail", "--socket", "/nonexistent", "pt 101"]) == 1
    assert capsys.readouterr().err == (
        "edge-agent: error: not a point pattern: 'pt 101' (expected device/point, globs allowed)\n"
    )


def test_tail_into_head_ends_quietly(agent: FakeAgent, tmp_path: Path) -> None:
    code = (
        "import sys; from tests.unit.edge_agent.cli.support import run_cli; "
        f"sys.exit(run_cli(['tail', '--socket', {str(agent.path)!r}]))"
    )
    root = REPO
    proc = subprocess.run(
        f'{sys.executable} -c "{code}" 2>{tmp_path}/err.txt | head -n 2; '
        "echo rc=${PIPESTATUS[0]}",
        shell=True,
        executable="/bin/bash",
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = proc.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("pt-101/pressure  0.4 MPa  good")
    assert lines[2] == "rc=0"
    assert (tmp_path / "err.txt").read_text() == ""
