"""Helpers for the CLI tests: the documented examples, and the CLI run in-process."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from edge_agent.cli import buffer_cmd, diag
from edge_agent.cli.root import _Parser
from edge_agent.errors import EdgeAgentError

DOC = Path(__file__).resolve().parents[3] / "docs" / "cli.md"


def doc_example(key: str) -> dict[str, Any]:
    """The first ```json block of docs/cli.md that has `key` at its top level."""
    for block in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S):
        try:
            data = json.loads(block)
        except json.JSONDecodeError:
            continue  # several one-line objects in one block
        if isinstance(data, dict) and key in data:
            return data
    raise AssertionError(f"docs/cli.md has no json example with {key!r}")


def run_cli(argv: list[str]) -> int:
    """What `edge-agent` does with these commands (cli/root.run_cli, minus the others)."""
    parser = _Parser(prog="edge-agent")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    diag.register(sub)
    buffer_cmd.register(sub)
    try:
        args = parser.parse_args(argv)
        return int(args.handler(args))
    except SystemExit as exit_:
        return int(exit_.code or 0)
    except EdgeAgentError as err:
        for line in str(err).splitlines():
            print(f"edge-agent: error: {line}", file=sys.stderr)
        return 1
