"""The `edge-agent` command line."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    # Imported here, not at the top: importing one module of this package (views,
    # options) must not import every command module through root.
    from edge_agent.cli.root import run_cli

    return run_cli(sys.argv[1:] if argv is None else argv)
