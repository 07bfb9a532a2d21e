"""`edge-agent run` (the daemon) and `edge-agent demo` (the daemon on simulated devices)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping
from typing import Any

from edge_agent.cli.options import UsageError, add_config_option, add_json_option
from edge_agent.cli.output import LEVEL_NAMES, format_table, format_value, print_json
from edge_agent.config import GatewayConfig
from edge_agent.control.client import NoAgentError, call
from edge_agent.control.paths import client_socket_paths
from edge_agent.control.protocol import ControlError
from edge_agent.errors import EdgeAgentError
from edge_agent.system.logs import setup_logging


def register(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run the agent until SIGTERM/SIGINT",
        description="Poll the configured devices, detect, store and forward until stopped. "
        "Refuses to start on a config with problems. With --once: poll every device once, "
        "decode, run the rules on that one sample and print the table, storing and "
        "publishing nothing; exit 1 if a device failed (the check before enabling the "
        "service).",
        epilog="examples:\n  edge-agent run -c /etc/edge-agent/gateway.toml\n"
        "  edge-agent run --once",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_option(run)
    run.add_argument(
        "--once",
        action="store_true",
        help="poll every device once, run the rules on it, print the table and exit "
        "(1 if a device failed); stores and publishes nothing",
    )
    add_json_option(run, "with --once: machine-readable output")
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
    from edge_agent.daemon.loading import load_everything
    from edge_agent.daemon.once import poll_once

    if args.json and not args.once:
        raise UsageError("--json goes with --once")
    if not args.once:
        asyncio.run(run_agent(args.config))
        return 0
    cfg, profiles, ruleset = load_everything(args.config)
    refuse_if_running(cfg)
    result = asyncio.run(poll_once(cfg, profiles, ruleset))
    if args.json:
        print_json(result)
    else:
        sys.stdout.write(render_once(result))
    return 1 if result["failed"] else 0


def refuse_if_running(cfg: GatewayConfig) -> None:
    """`--once` opens the buses itself: never next to a running agent on the same lines."""
    try:
        asyncio.run(call(client_socket_paths(cfg), "status", {}, 5.0))
    except NoAgentError:
        return
    except ControlError as err:
        raise EdgeAgentError(
            f"an agent seems to be running ({err}); `run --once` would open its buses a "
            "second time: stop it first (systemctl stop edge-agent)"
        ) from err
    raise EdgeAgentError(
        "the agent is running: `run --once` would open its buses a second time; stop it "
        "first (systemctl stop edge-agent), or ask it instead: edge-agent status"
    )


def render_once(result: Mapping[str, Any]) -> str:
    """One row per point of every device, then what the rules said, then the verdict."""
    rows = []
    for d in result["devices"]:
        where = f"{d['bus']} unit {d['unit']}"
        for r in d["readings"]:
            why = r["reason"] or ""
            rows.append([d["device"], r["point"], format_value(r["value"], r["unit"]),
                         r["quality"], why, where])  # fmt: skip
        if not d["readings"]:
            rows.append([d["device"], "", "", "bad", d["reason"] or "", where])
    lines = format_table(rows, ["device", "point", "value", "quality", "reason", "bus"])
    alarms = result["alarms"]
    lines.append("")
    if alarms:
        lines.append(f"rules on this sample ({result['rules']} rules, mode {result['mode']}):")
        for a in alarms:
            level = LEVEL_NAMES.get(a["level"], a["level"])
            lines.append(
                f"  {a['state']} {a['rule']} on {a['device']}/{a['point']} level {a['level']} "
                f"({level}): {format_value(a['value'], a['unit'])}, limit "
                f"{format_value(a['limit'], a['unit'])}"
            )
    else:
        lines.append(
            f"rules on this sample: no alarm ({result['rules']} rules, mode {result['mode']}; "
            "rules with a delay or a window need more than one sample)"
        )
    failed = [d for d in result["devices"] if not d["ok"]]
    n = len(result["devices"])
    if failed:
        lines.append(f"FAILED: {len(failed)}/{n} devices did not answer as configured:")
        lines += [f"  {d['device']} ({d['bus']} unit {d['unit']}): {d['reason']}" for d in failed]
    else:
        lines.append(f"OK: {n}/{n} devices answered ({result['elapsed_s']} s)")
    return "".join(line + "\n" for line in lines)


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
