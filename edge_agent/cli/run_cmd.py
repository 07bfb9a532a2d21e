"""`edge-agent run` (the daemon) and `edge-agent demo` (the daemon on simulated devices)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from edge_agent.cli.options import UsageError, add_config_option
from edge_agent.system.logs import setup_logging


def register(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run the agent until SIGTERM/SIGINT",
        description="Poll the configured devices, detect, store and forward until stopped. "
        "Refuses to start on a config with problems.",
        epilog="example: edge-agent run -c /etc/edge-agent/gateway.toml",
    )
    add_config_option(run)
    run.set_defaults(handler=cmd_run)

    demo = sub.add_parser(
        "demo",
        help="run the agent on simulated field devices",
        description="Start simulated Modbus TCP devices on loopback (a bursting water main, "
        "a manhole with rising methane, a rising culvert), run the agent with the default "
        "rules on a temporary data dir, and print alarms and what a central platform receives.",
        epilog="examples:\n  edge-agent demo\n  edge-agent demo --mqtt 127.0.0.1:1883 "
        "--duration 60\n  edge-agent demo --api sparkplug-b --report on-change",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--mqtt",
        metavar="HOST:PORT",
        help="publish to this broker instead of a private mosquitto",
    )
    demo.add_argument(
        "--duration",
        type=float,
        default=180.0,
        metavar="S",
        help="stop after this many seconds (default 180)",
    )
    demo.add_argument(
        "--api",
        choices=("edge-agent", "sparkplug-b", "thingsboard"),
        default="edge-agent",
        help="the uplink dialect ([mqtt] api; default edge-agent)",
    )
    demo.add_argument(
        "--report",
        choices=("every-poll", "on-change"),
        default="every-poll",
        help="telemetry reporting ([gateway] report; on-change uses the demo's deadbands)",
    )
    demo.add_argument(
        "--report-interval",
        type=float,
        default=0.0,
        metavar="S",
        help="batch telemetry over this many seconds ([gateway] report_interval_s)",
    )
    demo.set_defaults(handler=cmd_demo)


def cmd_run(args: argparse.Namespace) -> int:
    # The daemon brings numba (compiled kernels), pymodbus and aiomqtt: only `run` needs them.
    from edge_agent.daemon.agent import run_agent

    asyncio.run(run_agent(args.config))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    # The demo brings the daemon and the field simulators: only `demo` needs them.
    from edge_agent.demo import parse_hostport, run_demo

    broker = parse_hostport(args.mqtt) if args.mqtt else None
    if args.log_level == "info":
        # The demo prints alarms itself; the log then only shows warnings and errors.
        setup_logging("warning", args.log_format)
    if args.duration <= 0:
        raise UsageError("--duration must be positive")
    if args.report_interval < 0:
        raise UsageError("--report-interval must not be negative")
    return asyncio.run(
        run_demo(
            broker=broker,
            duration_s=args.duration,
            api=args.api,
            report=args.report,
            report_interval_s=args.report_interval,
        )
    )
