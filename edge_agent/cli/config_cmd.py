"""`edge-agent config check|schema`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from edge_agent.cli.options import add_config_option, add_json_option
from edge_agent.cli.output import print_json
from edge_agent.config import GatewayConfig, secret_warnings
from edge_agent.daemon.loading import load_everything, sampling_problems
from edge_agent.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "config",
        help="check a gateway config, print its JSON Schema",
        description="Check a gateway config, or print the JSON Schema of gateway.toml.",
        epilog="example: edge-agent config check -c /etc/edge-agent/gateway.toml",
    )
    csub = p.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    csub.required = True
    check = csub.add_parser(
        "check",
        help="validate a config and every file it names",
        description="Validate gateway.toml, its rule files and profiles. Prints OK, or one "
        "line per problem (file: key: what is allowed) and exits 1.",
        epilog="example: edge-agent config check -c /etc/edge-agent/gateway.toml",
    )
    add_config_option(check)
    add_json_option(check)
    check.set_defaults(handler=cmd_check)
    schema = csub.add_parser(
        "schema",
        help="print the JSON Schema of gateway.toml (for editors)",
        epilog="example: edge-agent config schema > gateway.schema.json",
    )
    schema.set_defaults(handler=cmd_schema)


def cmd_check(args: argparse.Namespace) -> int:
    try:
        cfg, profiles, ruleset = load_everything(args.config)
        problems = sampling_problems(cfg, profiles, ruleset, str(args.config))
        if problems:  # a rule that could never raise at its device's poll interval
            raise ConfigError(problems)
    except ConfigError as err:
        if args.json:
            print_json({"ok": False, "problems": [p.__dict__ for p in err.problems]})
            return 1
        raise
    warnings = secret_warnings(cfg, str(args.config))
    for w in warnings:
        sys.stderr.write(f"edge-agent: warning: {w.file}: {w.loc}: {w.msg}\n")
    summary = {
        "ok": True,
        "warnings": [w.__dict__ for w in warnings],
        "file": str(args.config),
        "gateway": cfg.gateway.id,
        "buses": len(cfg.buses),
        "devices": len(cfg.devices),
        "profiles_used": sorted({d.profile for d in cfg.devices}),
        "rules": len(ruleset.rules),
    }
    if args.json:
        print_json(summary)
    else:
        sys.stdout.write(
            f"OK: {args.config}: gateway {cfg.gateway.id}, {len(cfg.buses)} buses, "
            f"{len(cfg.devices)} devices, {len(ruleset.rules)} rules\n"
        )
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    schema = GatewayConfig.model_json_schema()
    sys.stdout.write(json.dumps(schema, indent=2) + "\n")
    return 0
