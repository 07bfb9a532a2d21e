"""`edge-agent write DEVICE/POINT VALUE`: an operator's write through the running agent."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edge_agent.cli.agent_client import call_agent, expect_dict, through_agent
from edge_agent.cli.options import add_agent_options, add_command
from edge_agent.cli.output import print_json
from edge_agent.control.client import NoAgentError
from edge_agent.errors import EdgeAgentError


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "write",
        "write one writable point through the running agent, and read it back",
        "Write VALUE (in the point's units, as a read shows it) to a point its profile "
        "marks writable, through the running agent: the write goes ahead of queued polls "
        "on the bus, is read back, and is published as an action event (action "
        '"command"). Automatic actions leave the point alone for the hold-off time after.',
        [
            "edge-agent write io-7/relay1 1",
            "edge-agent write vfd-2/frequency_set 35.5 --json",
        ],
    )
    add_agent_options(p)
    p.add_argument("point", metavar="DEVICE/POINT", help="a configured, writable point")
    p.add_argument("value", type=_number, metavar="VALUE", help="the value to write")
    p.set_defaults(handler=cmd_write)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def cmd_write(args: argparse.Namespace) -> int:
    if "/" not in args.point:
        raise EdgeAgentError(f"{args.point!r}: give DEVICE/POINT")
    try:
        result = expect_dict(
            call_agent(args, "write", {"point": args.point, "value": args.value}), "write"
        )
    except NoAgentError as err:
        raise through_agent(err, "write") from err
    if args.json:
        print_json(result)
    else:
        sys.stdout.write(
            f"{result.get('point')}: wrote {args.value:g}, read back {result.get('read_back')}\n"
        )
    return 0
