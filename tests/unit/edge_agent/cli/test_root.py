"""The CLI as a user meets it: a subprocess, one-line errors, exit codes, no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.edge_agent.cli.support import edge_agent, run_cli


def test_unknown_command_and_missing_config_are_one_line(tmp_path: Path) -> None:
    r = edge_agent("frobnicate")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    r = edge_agent("config", "check", "-c", str(tmp_path / "absent.toml"))
    assert r.returncode == 1
    assert r.stderr.strip() == f"edge-agent: error: {tmp_path / 'absent.toml'}: file not found"


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["alarms"],
        ["tail"],
        ["read"],
        ["scan"],
        ["buffer"],
        ["buffer", "stats"],
        ["buffer", "export"],
    ],
)
def test_every_command_has_help_with_examples(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli([*argv, "--help"]) == 0
    out = capsys.readouterr().out
    assert "\nexamples:\n  edge-agent " in out


def test_the_cli_starts_without_the_daemons_heavy_imports() -> None:
    # `edge-agent status` on a busy gateway: no numba, numpy, matplotlib or field-bus
    # and broker libraries until a command that needs them runs (see cli/root.py).
    code = (
        "import sys; from edge_agent.cli.root import build_parser; build_parser(); "
        "heavy = {'numba', 'numpy', 'matplotlib', 'pymodbus', 'aiomqtt', 'serial'}; "
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "[]\n"
