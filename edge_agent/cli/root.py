"""Root parser: global options, subcommands, and the one place user errors become one line.

Every command module is imported here, at the top: they are light (argparse, pydantic
models, the control client). What is heavy (numba through `rules`, the daemon, the
demo's simulators, matplotlib) each command module imports inside the handler that
needs it, so `edge-agent status` starts without compiling or loading any of it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from edge_agent import __version__
from edge_agent.cli import (
    buffer_cmd,
    config_cmd,
    profiles_cmd,
    read_cmd,
    rules_cmd,
    run_cmd,
    status_cmd,
    tail_cmd,
    write_cmd,
)
from edge_agent.cli.options import Parser
from edge_agent.errors import EdgeAgentError
from edge_agent.system.logs import setup_logging

Handler = Callable[[argparse.Namespace], int]

# In the order `edge-agent --help` lists them.
COMMANDS = (
    run_cmd,
    config_cmd,
    rules_cmd,
    profiles_cmd,
    status_cmd,
    tail_cmd,
    read_cmd,
    write_cmd,
    buffer_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="edge-agent",
        description="Field gateway agent for urban lifelines: poll, detect, store, forward.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  edge-agent demo\n"
        "  edge-agent config check -c /etc/edge-agent/gateway.toml\n"
        "  edge-agent run -c /etc/edge-agent/gateway.toml",
    )
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument("--log-format", default="text", choices=["text", "json"])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for module in COMMANDS:
        module.register(sub)
    return parser


def run_cli(argv: Sequence[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv))
    setup_logging(args.log_level, args.log_format)
    return run_command(args)


def run_command(args: argparse.Namespace) -> int:
    """Run the parsed command; an EdgeAgentError becomes `edge-agent: error: ...` lines
    on stderr and exit code 1, never a traceback."""
    handler: Handler = args.handler
    try:
        return handler(args)
    except EdgeAgentError as err:
        lines = str(err).splitlines() or [type(err).__name__]
        for line in lines:
            sys.stderr.write(f"edge-agent: error: {line}\n")
        return 1
    except KeyboardInterrupt:
        return 130
