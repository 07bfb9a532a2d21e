"""`edge-agent status|alarms`: a technician's view of the running daemon.

Each command is a thin client of one control-socket method (docs/cli.md lists them and
their result shapes); `views` renders the result.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edge_agent.cli import views
from edge_agent.cli.agent_client import call_agent, expect_dict
from edge_agent.cli.options import UsageError, add_agent_options, add_command, parse_int
from edge_agent.cli.output import print_json


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "status",
        "is this gateway healthy, and if not, which device and why",
        "Ask the running agent for its state: a verdict line, uplink state, buffer depth "
        "and age of the oldest unsent message, per-bus counters, each device's state, "
        "reason and last good reading, active alarms, operating mode and versions.",
        [
            "edge-agent status",
            "edge-agent status -c /etc/edge-agent/gateway.toml --json | jq .devices",
        ],
    )
    add_agent_options(p)
    p.set_defaults(handler=cmd_status)

    p = add_command(
        sub,
        "alarms",
        "active alarms and recent alarm events",
        "List the active alarms (most severe first) and the most recent alarm events.",
        ["edge-agent alarms", "edge-agent alarms --recent 100 --json"],
    )
    add_agent_options(p)
    p.add_argument(
        "--recent",
        type=parse_int,
        default=20,
        metavar="N",
        help="how many recent events to show (default 20, 0 for none)",
    )
    p.set_defaults(handler=cmd_alarms)


def cmd_status(args: argparse.Namespace) -> int:
    result = expect_dict(call_agent(args, "status"), "status")
    if args.json:
        print_json(result)
    else:
        sys.stdout.write(views.render_status(result))
    return 0


def cmd_alarms(args: argparse.Namespace) -> int:
    if args.recent < 0:
        raise UsageError("--recent must be 0 or more")
    result = expect_dict(call_agent(args, "alarms", {"recent": args.recent}), "alarms")
    if args.json:
        print_json(result)
    else:
        sys.stdout.write(views.render_alarms(result, int(result.get("now_ms", 0))))
    return 0
