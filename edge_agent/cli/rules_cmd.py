"""`edge-agent rules check|backtest`."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edge_agent.cli.options import UsageError, add_json_option
from edge_agent.cli.output import print_json
from edge_agent.daemon.loading import (
    DEFAULT_PACKS,
    load_everything,
    point_metas,
    sampling_problems,
)
from edge_agent.errors import ConfigError, Problem
from edge_agent.store.query import reading_columns
from rules.errors import RuleError
from rules.spec import RuleSet, load_rules


def register(sub: Any) -> None:
    p = sub.add_parser(
        "rules",
        help="check rule files, replay history through them",
        description="Validate rule files, or replay history through the detection engine.",
        epilog="example: edge-agent rules check -c /etc/edge-agent/gateway.toml",
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
    check.add_argument(
        "--poll-s",
        type=float,
        metavar="SECONDS",
        help="also refuse rules that could never raise at this poll interval (with -c: "
        "each device's poll_interval_s is used)",
    )
    add_json_option(check)
    check.set_defaults(handler=cmd_check)

    bt = rsub.add_parser(
        "backtest",
        help="replay history through rules: alarms, summary, plot",
        description="Replay recorded readings (CSV `ts,point,value[,quality]`, a buffer.db, or "
        "an .npz of columns) "
        "through the same kernels the daemon runs, and show what the rules would have raised. "
        "Points get their quantity, unit, range and tags from -c gateway.toml or --points "
        "points.csv (else the quantity is the point's own name).",
        epilog="examples:\n"
        "  edge-agent rules backtest --rules water --data readings.csv --points points.csv "
        "--out alarms.csv --plot alarms.png\n"
        "  edge-agent rules backtest -c /etc/edge-agent/gateway.toml "
        "--data /var/lib/edge-agent/buffer.db\n"
        "  edge-agent rules backtest --rules drainage rules/local.toml --mode flood-season "
        "--data storm.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bt.add_argument(
        "--rules",
        nargs="+",
        action="extend",
        metavar="FILE_OR_PACK",
        help="rule files or pack names (repeatable; default: the config's rules)",
    )
    bt.add_argument(
        "--data", type=Path, required=True, metavar="CSV|DB|NPZ", help="history to replay"
    )
    src = bt.add_mutually_exclusive_group()
    src.add_argument(
        "-c", "--config", type=Path, metavar="FILE", help="points from a gateway config"
    )
    src.add_argument("--points", type=Path, metavar="CSV", help="points from a points.csv")
    bt.add_argument("--out", type=Path, metavar="CSV", help="write every alarm transition here")
    bt.add_argument("--plot", type=Path, metavar="PNG", help="draw alarmed points with alarm spans")
    bt.add_argument(
        "--mode", default=None, help="operating mode (default: the config's, or normal)"
    )
    add_json_option(bt)
    bt.set_defaults(handler=cmd_backtest)


def cmd_check(args: argparse.Namespace) -> int:
    if not args.files and args.config is None:
        raise UsageError("give rule files or pack names, or -c CONFIG")
    try:
        ruleset: RuleSet
        if args.config is not None:
            cfg, profiles, ruleset = load_everything(args.config)
            sampling = sampling_problems(cfg, profiles, ruleset, str(args.config))
        else:
            ruleset = load_rules(args.files, Path.cwd())
            sampling = []
        if args.poll_s is not None and args.config is None:
            from rules.sampling import refusal  # binding rules needs numpy: only when asked

            sampling = [
                Problem(" ".join(args.files), f"rules[{r.id}]",
                        f"rule {r.id} ({getattr(r, 'kind', '?')}): {why} at a poll interval of "
                        f"{args.poll_s:g} s; it can never raise there")
                for r in ruleset.rules
                if r.enabled and (why := refusal(r, args.poll_s)) is not None
            ]  # fmt: skip
        if sampling:
            raise ConfigError(sampling)
    except ConfigError as err:
        if args.json:
            print_json({"ok": False, "problems": [p.__dict__ for p in err.problems]})
            return 1
        raise
    except RuleError as err:
        problems = [Problem(f, loc, m) for f, loc, m in err.problems]
        if args.json:
            print_json({"ok": False, "problems": [p.__dict__ for p in problems]})
            return 1
        raise ConfigError(problems) from err
    rules = [{"id": r.id, "kind": str(getattr(r, "kind", "?"))} for r in ruleset.rules]
    notes = [cold_start_note(r) for r in ruleset.rules if getattr(r, "kind", "") == "baseline"]
    if args.json:
        print_json({"ok": True, "rules": rules, "notes": notes})
    else:
        sys.stdout.write(f"OK: {len(rules)} rules\n")
        sys.stdout.writelines(f"note: {n}\n" for n in notes)
    return 0


def cold_start_note(rule: Any) -> str:
    """What a baseline rule does before it has learned (its cold start)."""
    meanwhile = (
        f"cold_limit = {rule.cold_limit:g} decides meanwhile"
        if rule.cold_limit is not None
        else "it cannot assess until then"
    )
    return (f"rule {rule.id} (baseline) learns each point's day from its own readings: "
            f"a slot decides after {rule.min_days} days learned; {meanwhile}")  # fmt: skip


def cmd_backtest(args: argparse.Namespace) -> int:
    # The backtest brings numpy and the numba kernels, its plot matplotlib: only it needs them.
    from rules.backtest import (
        format_not_assessing,
        format_summary,
        is_database,
        readings_from_columns,
        run_backtest,
    )
    from rules.backtest.actions import format_actions
    from rules.backtest.plot import plot_backtest

    base_dir = Path.cwd()
    refs: list[str] = list(args.rules or [])
    points = None
    mode = args.mode or "normal"
    if args.config is not None:
        cfg, profiles, _ = load_everything(args.config)
        points = point_metas(cfg, profiles)
        mode = args.mode or cfg.gateway.mode
        if not refs:
            refs, base_dir = list(cfg.gateway.rules) or list(DEFAULT_PACKS), cfg.base_dir
    if not refs:
        raise UsageError("give --rules FILE_OR_PACK... or -c CONFIG")
    if not args.data.is_file():
        raise UsageError(f"--data {args.data}: file not found")
    bar = ProgressBar("replaying")
    try:
        data = args.data
        if is_database(args.data):  # rules read no SQL: the store's query hands columns over
            c = reading_columns(args.data)
            data = readings_from_columns(c.keys, c.point_idx, c.ts_ms, c.value, c.quality)
        result = run_backtest(
            refs, data, base_dir=base_dir, points=points, points_csv=args.points,
            out=args.out, mode=mode, progress=bar,
        )  # fmt: skip
        if args.plot is not None:
            plot_backtest(result, args.plot)
    except RuleError as err:
        raise ConfigError([Problem(f, loc, m) for f, loc, m in err.problems]) from err
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot replay {args.data}: {err}") from err
    finally:
        bar.done()
    if args.json:
        print_json({
            "samples": result.samples, "skipped": result.skipped,
            "transitions": len(result.transitions),
            "rules": [{"rule": r.rule, "kind": r.kind, "alarms": r.alarms,
                       "time_in_alarm_s": r.time_in_alarm_s, "first_ts": r.first_ts,
                       "last_ts": r.last_ts, "points": sorted(r.points)}
                      for r in result.summary],
            "actions": [asdict(a) for a in result.actions],
            "not_assessing": [n.to_dict() for n in result.not_assessing],
        })  # fmt: skip
        return 0
    sys.stdout.write(
        f"replayed {result.samples} samples"
        + (f" ({result.skipped} of unknown points skipped)" if result.skipped else "")
        + f": {len(result.transitions)} alarm transitions\n\n"
    )
    sys.stdout.write(format_summary(result.summary) + "\n")
    if result.actions:
        sys.stdout.write("\n" + format_actions(result.actions) + "\n")
    if result.not_assessing:
        sys.stdout.write("\n" + format_not_assessing(result.not_assessing) + "\n")
    if args.out is not None:
        sys.stdout.write(f"\nalarm transitions written to {args.out}\n")
    if args.plot is not None:
        sys.stdout.write(f"plot written to {args.plot}\n")
    return 0


class ProgressBar:
    """A one-line progress bar on stderr, for runs long enough to need one."""

    def __init__(self, what: str, min_total: int = 200_000) -> None:
        self.what = what
        self.min_total = min_total
        self.shown = False
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if total < self.min_total or (now - self._last < 0.2 and done < total):
            return
        self._last = now
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write(f"\r{self.what} [{'#' * filled}{'.' * (width - filled)}] "
                         f"{done:,}/{total:,} samples")  # fmt: skip
        sys.stderr.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
