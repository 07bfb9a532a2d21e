"""`edge-agent buffer stats|export`: look into buffer.db without disturbing the daemon.

The queries are `edge_agent.store.query`'s (read-only, straight from disk), so these
commands work whether the agent runs or not, and on a copy taken off a gateway
(`--db`). This module turns arguments into a query and its rows into text.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from edge_agent.cli.options import (
    UsageError,
    add_config_option,
    load_gateway_config,
    point_globs,
    reader_may_leave,
)
from edge_agent.cli.output import format_bytes, format_ts, print_json
from edge_agent.clock import now_ms
from edge_agent.errors import EdgeAgentError
from edge_agent.store.query import ReadingRow, buffer_stats, export_readings

DB_NAME = "buffer.db"
_UNITS_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


# ---------------------------------------------------------------- times


def parse_time(text: str, now: int) -> int:
    """Epoch ms from `now`, `2h` (ago), an ISO 8601 date/time (naive = UTC), or epoch ms."""
    t = text.strip()
    if t == "now":
        return now
    m = re.fullmatch(r"-?(\d+(?:\.\d+)?)([smhd])", t)
    if m:
        return now - int(float(m.group(1)) * _UNITS_MS[m.group(2)])
    if re.fullmatch(r"\d{11,}", t):
        return int(t)
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise UsageError(
            f"not a time: {text!r} (use 2026-11-24T08:00, 2026-11-24T08:00+08:00, "
            "2h for two hours ago, now, or epoch milliseconds)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)  # the buffer is in UTC; say +08:00 for local time
    return int(dt.timestamp() * 1000)


# ---------------------------------------------------------------- writers


def write_csv(rows: Iterator[ReadingRow], out: IO[str]) -> int:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["ts", "ts_ms", "point", "value", "quality", "reason"])
    n = 0
    for r in rows:
        w.writerow(
            [
                format_ts(r.ts_ms),
                r.ts_ms,
                f"{r.device}/{r.point}",
                _num(r.value),
                r.quality,
                r.reason or "",
            ]
        )
        n += 1
    return n


def write_jsonl(rows: Iterator[ReadingRow], out: IO[str]) -> int:
    n = 0
    for r in rows:
        item = {
            "ts_ms": r.ts_ms,
            "device": r.device,
            "point": r.point,
            "value": _num(r.value),
            "quality": r.quality,
            "reason": r.reason,
        }
        out.write(json.dumps(item, ensure_ascii=False) + "\n")
        n += 1
    return n


def _num(v: Any) -> Any:
    # SQLite stores a NaN as NULL already; keep the output strict JSON either way.
    if isinstance(v, float) and v != v:
        return None
    return v


# ---------------------------------------------------------------- commands


def register(sub: Any) -> None:
    p = sub.add_parser(
        "buffer",
        help="what the local buffer holds; export readings",
        description="Inspect buffer.db (readings, alarms and the unsent outbox) read-only, "
        "while the agent runs or not.",
        epilog="examples:\n  edge-agent buffer stats\n"
        "  edge-agent buffer export --since 2h --format jsonl -o last-2h.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bsub = p.add_subparsers(dest="buffer_command", metavar="SUBCOMMAND")
    bsub.required = True
    for name, help_, handler, examples in (
        (
            "stats",
            "size, rows per table, time span of the readings",
            cmd_stats,
            ["edge-agent buffer stats", "edge-agent buffer stats --db ./buffer.db --json"],
        ),
        (
            "export",
            "export readings as CSV or JSON lines",
            cmd_export,
            [
                "edge-agent buffer export --since 2h > last-2h.csv",
                "edge-agent buffer export --since 2026-11-24T00:00+08:00 "
                "--until 2026-11-25T00:00+08:00 --format jsonl -o day.jsonl",
                "edge-agent buffer export --points 'pt-1*/pressure' --since 1d",
            ],
        ),
    ):
        sp = bsub.add_parser(
            name,
            help=help_,
            description=help_[0].upper() + help_[1:] + ".",
            epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_config_option(sp)
        sp.add_argument(
            "--db",
            type=Path,
            metavar="FILE",
            help="read this buffer.db instead of {data_dir}/buffer.db from the config",
        )
        sp.set_defaults(handler=handler)
        if name == "stats":
            sp.add_argument("--json", action="store_true", help="machine-readable output")
        else:
            sp.add_argument("--since", metavar="TIME", help="from this time (inclusive)")
            sp.add_argument("--until", metavar="TIME", help="to this time (exclusive)")
            sp.add_argument("--format", choices=("csv", "jsonl"), default="csv")
            sp.add_argument(
                "--points",
                nargs="+",
                default=[],
                metavar="GLOB",
                help="only these device/point globs",
            )
            sp.add_argument(
                "-o", "--output", type=Path, metavar="FILE", help="write here, not stdout"
            )
            sp.epilog += (
                "\n\nTIME: 2026-11-24T08:00 (UTC), 2026-11-24T08:00+08:00, 2026-11-24, "
                "2h / 30m / 7d (ago), now, or epoch milliseconds."
            )


def db_path(args: argparse.Namespace) -> Path:
    """--db, else {data_dir}/buffer.db of the config; it must exist."""
    if args.db is not None:
        path = Path(args.db)
    else:
        path = load_gateway_config(args.config).data_dir / DB_NAME
    if not path.is_file():
        raise EdgeAgentError(
            f"no buffer at {path} (has the agent run with this data_dir? use --db for a copy)"
        )
    return path


def cmd_stats(args: argparse.Namespace) -> int:
    stats = buffer_stats(db_path(args))
    if args.json:
        print_json(stats)
        return 0
    out = [
        f"{stats['db']}: {format_bytes(stats['bytes'])} (+ {format_bytes(stats['wal_bytes'])} WAL)"
    ]
    r = stats.get("readings")
    if r:
        span = "empty"
        if r["oldest_ts_ms"] is not None:
            span = f"{format_ts(r['oldest_ts_ms'])} .. {format_ts(r['newest_ts_ms'])}"
        quality = ", ".join(f"{k} {v}" for k, v in r["by_quality"].items()) or "-"
        out.append(f"readings: {r['count']} rows, {r['points']} points, {span}")
        out.append(f"quality: {quality}")
    out.append("rows per table: " + ", ".join(f"{t} {n}" for t, n in stats["tables"].items()))
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    now = now_ms()
    since = parse_time(args.since, now) if args.since else None
    until = parse_time(args.until, now) if args.until else None
    if since is not None and until is not None and since >= until:
        raise UsageError(
            f"--since ({format_ts(since)}) must be before --until ({format_ts(until)})"
        )
    points = point_globs(args.points)
    path = db_path(args)
    rows = export_readings(path, since, until, points)
    write = write_csv if args.format == "csv" else write_jsonl
    if args.output is None:
        with reader_may_leave():  # `buffer export | head`
            write(rows, sys.stdout)
        return 0
    tmp = args.output.with_name(args.output.name + ".part")
    try:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            n = write(rows, f)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise EdgeAgentError(f"cannot write {args.output}: {err.strerror}") from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(args.output)  # a half-written export never looks finished
    sys.stderr.write(f"exported {n} readings to {args.output}\n")
    return 0
