"""`edge-agent profiles list|show|check`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edge_agent.cli.output import print_json, print_table
from edge_agent.errors import ConfigError, Problem


def register(sub: Any) -> None:
    from edge_agent.cli.root import add_json_option

    p = sub.add_parser(
        "profiles",
        help="list, show and check firmware profiles",
        description="Firmware profiles: the register map, types, scaling and quirks of a "
        "sensor model. Packaged profiles are always there; add yours with --profiles.",
        epilog="example: edge-agent profiles show endress-hauser-fmr20",
    )
    psub = p.add_subparsers(dest="profiles_command", metavar="SUBCOMMAND")
    psub.required = True
    for name, help_, handler in (
        ("list", "list the profiles", cmd_list),
        ("show", "show one profile's points", cmd_show),
        ("check", "validate profile files", cmd_check),
    ):
        sp = psub.add_parser(name, help=help_, description=help_.capitalize() + ".")
        sp.add_argument(
            "--profiles",
            type=Path,
            action="append",
            default=[],
            metavar="PATH",
            help="extra profile files or folders (repeatable)",
        )
        add_json_option(sp)
        sp.set_defaults(handler=handler)
        if name == "list":
            sp.epilog = "example: edge-agent profiles list --profiles /etc/edge-agent/profiles/"
        if name == "show":
            sp.add_argument("id", help="profile id (see `edge-agent profiles list`)")
            sp.epilog = "example: edge-agent profiles show generic-pressure-float32"
        if name == "check":
            sp.add_argument("files", nargs="*", type=Path, metavar="FILE")
            sp.epilog = "example: edge-agent profiles check profiles/my-sensor.toml"


def _load(extra: list[Path]) -> dict[str, Any]:
    from drivers.errors import ProfileError
    from drivers.profiles import load_profiles

    try:
        return dict(load_profiles(extra))
    except ProfileError as err:
        raise ConfigError([Problem(f, loc, m) for f, loc, m in err.problems]) from err


def cmd_list(args: argparse.Namespace) -> int:
    profiles = _load(args.profiles)
    rows = [
        (p.id, p.manufacturer, p.model, len(p.points)) for p in sorted(profiles.values(), key=_id)
    ]
    if args.json:
        print_json(
            [dict(zip(("id", "manufacturer", "model", "points"), r, strict=True)) for r in rows]
        )
    else:
        print_table(rows, ("id", "manufacturer", "model", "points"))
    return 0


def _id(p: Any) -> str:
    return str(p.id)


def cmd_show(args: argparse.Namespace) -> int:
    from edge_agent.cli.root import UsageError

    profiles = _load(args.profiles)
    if args.id not in profiles:
        raise UsageError(f"no profile {args.id!r} (see `edge-agent profiles list`)")
    prof = profiles[args.id]
    if args.json:
        print_json(prof.model_dump(mode="json"))
        return 0
    sys.stdout.write(f"{prof.id}: {prof.manufacturer} {prof.model}\nsource: {prof.source}\n\n")
    print_table(
        [
            (
                pt.name,
                pt.quantity,
                pt.unit,
                pt.table,
                pt.address,
                pt.type,
                pt.byte_order,
                pt.scale,
                pt.offset,
                pt.range,
            )
            for pt in prof.points
        ],
        (
            "point",
            "quantity",
            "unit",
            "table",
            "address",
            "type",
            "order",
            "scale",
            "offset",
            "range",
        ),
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    profiles = _load(list(args.profiles) + list(args.files))
    if args.json:
        print_json({"ok": True, "profiles": sorted(profiles)})
    else:
        sys.stdout.write(f"OK: {len(profiles)} profiles\n")
    return 0
