"""Root parser: global options, subcommands, and the one place user errors become one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from edge_agent import __version__
from edge_agent.config import DEFAULT_CONFIG
from edge_agent.errors import EdgeAgentError
from edge_agent.logs import setup_logging

Handler = Callable[[argparse.Namespace], int]


class UsageError(EdgeAgentError):
    """A wrong command-line argument."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line and exit 2, instead of argparse's usage dump.
        sys.stderr.write(f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(2)


def add_config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-c",
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        metavar="FILE",
        help=f"gateway config (default {DEFAULT_CONFIG})",
    )


def add_json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def build_parser() -> argparse.ArgumentParser:
    from edge_agent.cli import buffer_cmd, config_cmd, diag, profiles_cmd, rules_cmd, run_cmd

    parser = _Parser(
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in (run_cmd, config_cmd, rules_cmd, profiles_cmd, diag, buffer_cmd):
        module.register(sub)
    return parser


def run_cli(argv: Sequence[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv))
    setup_logging(args.log_level, args.log_format)
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
