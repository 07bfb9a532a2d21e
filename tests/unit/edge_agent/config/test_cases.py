"""Data-driven config cases: tests/cases/config/<case>/gateway.toml and what
`edge-agent config check` prints for it.

Each case folder holds `gateway.toml` (and any file it names) and one expected file:

    expected.out   the config is fine: the `OK: ...` line on stdout, exit 0
    expected.err   one `edge-agent: error: file: loc: msg` line per problem on stderr, exit 1

The check runs in the case folder as `config check -c gateway.toml`, so paths in the
output are relative; an absolute path (a file the config names that is missing) shows
the case folder as `<case>`. After a deliberate change, regenerate with
`UPDATE_CASES=1 pytest tests/unit/edge_agent/config/test_cases.py` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge_agent.cli.root import build_parser, run_command

CASES = Path(__file__).resolve().parents[3] / "cases" / "config"
CASE_DIRS = sorted(p for p in CASES.iterdir() if p.is_dir())
UPDATE = os.environ.get("UPDATE_CASES") == "1"


def run_case(
    case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[str, str]:
    """(name of the expected file, its text) for the case folder `case`."""
    monkeypatch.chdir(case)
    code = run_command(build_parser().parse_args(["config", "check", "-c", "gateway.toml"]))
    out, err = capsys.readouterr()
    if code == 0:
        assert err == "", f"{case.name}: the check passed but wrote to stderr: {err}"
        return "expected.out", out
    assert code == 1, f"{case.name}: exit code {code}"
    assert out == "", f"{case.name}: the check failed but wrote to stdout: {out}"
    return "expected.err", err.replace(str(case.resolve()), "<case>")


def test_there_are_cases_of_both_kinds() -> None:
    kinds = {f.name for case in CASE_DIRS for f in case.glob("expected.*")}
    assert kinds == {"expected.out", "expected.err"}


@pytest.mark.parametrize("case", CASE_DIRS, ids=lambda p: p.name)
def test_config_case(
    case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name, got = run_case(case, monkeypatch, capsys)
    if UPDATE:
        for old in case.glob("expected.*"):
            old.unlink()
        (case / name).write_text(got, encoding="utf-8")
    expected = sorted(f.name for f in case.glob("expected.*"))
    assert expected == [name], f"{case.name}: the check gives {name}, the case has {expected}"
    assert got == (case / name).read_text(encoding="utf-8")
