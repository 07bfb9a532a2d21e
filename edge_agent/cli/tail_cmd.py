"""`edge-agent tail`: follow live readings and alarm events as the agent takes them."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import IO, Any

from edge_agent.cli import views
from edge_agent.cli.agent_client import socket_paths
from edge_agent.cli.options import (
    UsageError,
    add_agent_options,
    add_command,
    parse_int,
    point_globs,
    reader_may_leave,
)
from edge_agent.control.client import stream
from edge_agent.control.protocol import Params


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "tail",
        "follow live readings (and alarm events) as the agent polls",
        "Print each reading as the agent takes it, with its quality and the reason when "
        "it is not good, and each alarm event. POINTS are device/point globs; a bare "
        "device name means all its points. Ctrl-C stops.",
        [
            "edge-agent tail",
            "edge-agent tail pt-101 'mh-*/methane_lel'",
            "edge-agent tail --count 20 --json > sample.jsonl",
        ],
    )
    add_agent_options(p, json_help="one JSON object per line")
    p.add_argument("points", nargs="*", metavar="POINTS", help="device/point globs")
    p.add_argument("--count", type=parse_int, metavar="N", help="stop after N readings")
    p.add_argument("--bad", action="store_true", help="only readings that are not good")
    p.add_argument("--no-alarms", action="store_true", help="leave alarm events out")
    p.set_defaults(handler=cmd_tail)


def cmd_tail(args: argparse.Namespace) -> int:
    params = {"points": point_globs(args.points), "alarms": not args.no_alarms}
    if args.count is not None and args.count < 1:
        raise UsageError("--count must be 1 or more")
    with reader_may_leave():
        asyncio.run(_tail(args, params, sys.stdout))
    return 0


async def _tail(args: argparse.Namespace, params: Params, out: IO[str]) -> None:
    shown = 0
    items = stream(socket_paths(args), "tail", params, connect_timeout_s=args.timeout)
    try:
        async for item in items:
            if not isinstance(item, dict):
                continue
            is_reading = item.get("type", "reading") == "reading"
            if args.bad and is_reading and item.get("quality") == "good":
                continue
            out.write(
                json.dumps(item, ensure_ascii=False) if args.json else views.render_tail_item(item)
            )
            out.write("\n")
            out.flush()
            if is_reading:
                shown += 1
                if args.count is not None and shown >= args.count:
                    return
    finally:
        await items.aclose()
