"""How the diagnostics commands reach the running agent: which socket, one call."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from edge_agent.cli.options import load_gateway_config
from edge_agent.control.client import NoAgentError, call
from edge_agent.control.paths import client_socket_paths
from edge_agent.control.protocol import Params
from edge_agent.errors import EdgeAgentError


def socket_paths(args: argparse.Namespace) -> list[Path]:
    """--socket, else where the config says the agent listens (several candidates)."""
    if args.socket is not None:
        return [args.socket]
    return client_socket_paths(load_gateway_config(args.config))


def call_agent(args: argparse.Namespace, method: str, params: Params | None = None) -> Any:
    return asyncio.run(call(socket_paths(args), method, params or {}, args.timeout))


def expect_dict(result: Any, method: str) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise EdgeAgentError(f"the agent's {method!r} reply is not an object: {str(result)[:100]}")
    return result


def through_agent(err: NoAgentError, command: str) -> NoAgentError:
    """Why `command` needs the running agent, added to its absence."""
    return NoAgentError(
        f"{err}; `{command}` goes through the running agent so it never collides with its "
        "polling and is audited as an action event: start it (systemctl start edge-agent)"
    )
