"""`edge-agent rules check|backtest`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edge_agent.cli.output import print_json
from edge_agent.errors import ConfigError, Problem


def register(sub: Any) -> None:
    from edge_agent.cli.root import add_json_option

    p = sub.add_parser(
        "rules",
        help="check rule files, replay history through them",
        description="Validate rule files, or replay history through the detection engine.",
    )
    rsub = p.add_subparsers(dest="rules_command", metavar="SUBCOMMAND")
    rsub.required = True
    check = rsub.add_parser(
        "check",
        help="validate rule files (or the rules a gateway config uses)",
        description="Validate rule files and packaged pack names; with -c, the rules of a "
        "gateway config. Prints OK or one line per problem (file: key: what is allowed).",
        epilog="examples:\n  edge-agent rules check rules/water.toml\n"
        "  edge-agent rules check gas water drainage\n"
        "  edge-agent rules check -c /etc/edge-agent/gateway.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("files", nargs="*", metavar="FILE", help="rule files or pack names")
    check.add_argument("-c", "--config", type=Path, metavar="FILE", help="a gateway config")
    add_json_option(check)
    check.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from edge_agent.cli.root import UsageError
    from rules.errors import RuleError
    from rules.spec import RuleSet, load_rules

    if not args.files and args.config is None:
        raise UsageError("give rule files or pack names, or -c CONFIG")
    try:
        ruleset: RuleSet
        if args.config is not None:
            from edge_agent.agent import load_everything

            _, _, ruleset = load_everything(args.config)
        else:
            ruleset = load_rules(args.files, Path.cwd())
    except RuleError as err:
        problems = [Problem(f, loc, m) for f, loc, m in err.problems]
        if args.json:
            print_json({"ok": False, "problems": [p.__dict__ for p in problems]})
            return 1
        raise ConfigError(problems) from err
    rules = [{"id": r.id, "kind": str(getattr(r, "kind", "?"))} for r in ruleset.rules]
    if args.json:
        print_json({"ok": True, "rules": rules})
    else:
        sys.stdout.write(f"OK: {len(rules)} rules\n")
    return 0
