"""What the command modules share: options, argument types, the user-error class, the
light config load, and quiet pipes. Command modules import this, never `root`."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge_agent.config import DEFAULT_CONFIG, GatewayConfig, parse_config
from edge_agent.errors import EdgeAgentError

_POINT_GLOB = re.compile(r"^[A-Za-z0-9_.*?\[\]-]+(/[A-Za-z0-9_.*?\[\]-]+)?$")


class UsageError(EdgeAgentError):
    """A wrong command-line argument."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `edge-agent: error: ... (see `edge-agent --help`)`."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # One line and exit 2, instead of argparse's usage dump.
        sys.stderr.write(f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(2)


def add_command(sub: Any, name: str, help_: str, description: str, examples: list[str]) -> Any:
    """A subcommand whose --help ends with its examples."""
    return sub.add_parser(
        name,
        help=help_,
        description=description,
        epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-c",
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        metavar="FILE",
        help=f"gateway config (default {DEFAULT_CONFIG})",
    )


def add_json_option(p: argparse.ArgumentParser, help_: str = "machine-readable output") -> None:
    p.add_argument("--json", action="store_true", help=help_)


def add_agent_options(
    p: argparse.ArgumentParser, *, json_help: str = "machine-readable output"
) -> None:
    """-c, --socket, --json and --timeout: for the commands that ask the running agent."""
    add_config_option(p)
    p.add_argument(
        "--socket",
        type=Path,
        metavar="PATH",
        help="the agent's control socket (default: found from the config: "
        "/run/edge-agent/control.sock under systemd, else {data_dir}/control.sock)",
    )
    add_json_option(p, json_help)
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=10.0,
        metavar="S",
        help="give up if the agent does not answer in S seconds (default 10)",
    )


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return v


def parse_int(text: str) -> int:
    """Decimal or 0x-hex, as register maps are written."""
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def load_gateway_config(path: Path) -> GatewayConfig:
    """The config as far as finding the daemon or its buffer needs: validated, but without
    loading profiles and rules (the daemon already did, and a technician's `status`
    should not fail on a rule file being edited)."""
    return parse_config(path)


def point_globs(points: list[str]) -> list[str]:
    """`device/point` globs as given; a bare device name means all its points."""
    out = []
    for p in points:
        if not _POINT_GLOB.match(p):
            raise UsageError(f"not a point pattern: {p!r} (expected device/point, globs allowed)")
        out.append(p if "/" in p else f"{p}/*")
    return out


@contextlib.contextmanager
def reader_may_leave() -> Iterator[None]:
    """`edge-agent tail | head`: the reader going away is how such a pipe ends, not an
    error. Point stdout at /dev/null so the interpreter's final flush stays quiet too."""
    try:
        yield
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
