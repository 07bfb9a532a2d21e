"""`edge-agent profiles list|show|check|plan`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from drivers.base import BIT_TABLES, ReadRequest
from drivers.errors import ProfileError
from drivers.planner import plan_per_point, plan_reads, rtu_transaction_s
from drivers.profiles import Profile, load_profiles
from drivers.settings import BAUDRATES, ModbusRtuBusConfig, ModbusRtuOverTcpBusConfig
from edge_agent.cli.options import UsageError, add_json_option, reader_may_leave
from edge_agent.cli.output import print_json, print_table
from edge_agent.config import DEFAULT_CONFIG, GatewayConfig, load_config
from edge_agent.errors import ConfigError, Problem


def register(sub: Any) -> None:
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
    _register_plan(psub)


def _register_plan(psub: Any) -> None:
    sp = psub.add_parser(
        "plan",
        help="show the read plan: requests per poll and bus time",
        description="The read requests a poll sends: a profile's points coalesced within "
        "the protocol limits and the profile's quirks, with the modelled Modbus RTU bus "
        "time of each. With a profile id, that profile at --baudrate; without one, every "
        "device of the gateway config at its bus's settings, and each bus's load at the "
        "configured poll intervals.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  edge-agent profiles plan tuf-2000m\n"
        "  edge-agent profiles plan tuf-2000m --baudrate 19200 --json\n"
        "  edge-agent profiles plan -c /etc/edge-agent/gateway.toml",
    )
    sp.add_argument("id", nargs="?", help="profile id; omit to plan every configured device")
    sp.add_argument(
        "-c",
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"gateway config, when no profile id is given (default {DEFAULT_CONFIG})",
    )
    sp.add_argument(
        "--baudrate",
        type=int,
        default=9600,
        choices=BAUDRATES,
        metavar="BAUD",
        help="line speed for a single profile's bus time (default 9600)",
    )
    sp.add_argument(
        "--profiles",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="extra profile files or folders (repeatable)",
    )
    add_json_option(sp)
    sp.set_defaults(handler=cmd_plan)


def _load(extra: list[Path]) -> dict[str, Profile]:
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


def _id(p: Profile) -> str:
    return p.id


def cmd_show(args: argparse.Namespace) -> int:
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
                _writable(pt.writable, pt.write_range),
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
            "write",
        ),
    )
    return 0


def _writable(writable: bool, write_range: tuple[float, float] | None) -> str:
    """The `write` column: empty for a read-only point, else what a write may carry."""
    if not writable:
        return ""
    return "any" if write_range is None else f"{write_range[0]:g}..{write_range[1]:g}"


def cmd_check(args: argparse.Namespace) -> int:
    profiles = _load(list(args.profiles) + list(args.files))
    if args.json:
        print_json({"ok": True, "profiles": sorted(profiles)})
    else:
        sys.stdout.write(f"OK: {len(profiles)} profiles\n")
    return 0


# --- plan ------------------------------------------------------------------------------


def profile_plan(prof: Profile, baudrate: int | None, bits_per_char: int = 10) -> dict[str, Any]:
    """One profile's plan as data: requests, registers and bits read, bus time per poll
    at `baudrate` (None: no serial line to model, as on Modbus TCP), and the
    one-request-per-point baseline."""

    def ms(reqs: list[ReadRequest]) -> float | None:
        if baudrate is None:
            return None
        return round(sum(rtu_transaction_s(r, baudrate, bits_per_char) for r in reqs) * 1000, 1)

    plan = plan_reads(prof)
    naive = plan_per_point(prof)
    line = prof.protocol == "line"
    return {
        "profile": prof.id,
        "protocol": prof.protocol,
        "baudrate": baudrate,
        # A line sensor costs one line per poll (a request, or the newest streamed line).
        "transactions": 1 if line else len(plan),
        "registers": sum(r.count for r in plan if r.table not in BIT_TABLES),
        "bits": sum(r.count for r in plan if r.table in BIT_TABLES),
        "bus_time_ms": None if line else ms(plan),
        "requests": [
            {
                "table": r.table,
                "address": r.address,
                "count": r.count,
                "points": list(r.points),
                "bus_time_ms": ms([r]),
            }
            for r in plan
        ],
        "per_point": {
            "transactions": 1 if line else len(naive),
            "bus_time_ms": None if line else ms(naive),
        },
    }


def gateway_plan(cfg: GatewayConfig, profiles: dict[str, Profile]) -> dict[str, Any]:
    """Every enabled device's plan at its bus's settings, and each bus's load: the share
    of the line's time its devices take at their poll intervals (over 100 %: overruns)."""
    devices = []
    load: dict[str, float] = {}
    cycle: dict[str, tuple[int, float]] = {}
    for d in cfg.devices:
        if not d.enabled:
            continue
        bus = cfg.bus(d.bus)
        prof = profiles[d.profile]
        baud: int | None
        if isinstance(bus, ModbusRtuBusConfig):
            baud, bits = bus.baudrate, _bits_per_char(bus.bytesize, bus.parity, bus.stopbits)
            source = "bus"
        elif isinstance(bus, ModbusRtuOverTcpBusConfig):
            # The serial side is behind the device server: the device's own defaults.
            ser = prof.serial
            baud, bits, source = (
                ser.baudrate,
                _bits_per_char(8, ser.parity, ser.stopbits),
                "profile",
            )
        else:
            baud, bits, source = None, 10, None
        entry = {
            "device": d.name,
            "bus": d.bus,
            "kind": bus.kind,
            "unit": d.unit,
            "poll_interval_s": d.poll_interval_s,
            "baudrate_from": source,
            **profile_plan(prof, baud, bits),
        }
        devices.append(entry)
        n, t = cycle.get(d.bus, (0, 0.0))
        ms = entry["bus_time_ms"] or 0.0
        cycle[d.bus] = (n + entry["transactions"], t + ms)
        load[d.bus] = load.get(d.bus, 0.0) + ms / 1000 / d.poll_interval_s
    buses = []
    for b in cfg.buses:
        if b.name not in cycle:
            continue
        timed = any(e["bus_time_ms"] is not None for e in devices if e["bus"] == b.name)
        n, t = cycle[b.name]
        buses.append(
            {
                "name": b.name,
                "kind": b.kind,
                "transactions_per_cycle": n,
                "bus_time_ms_per_cycle": round(t, 1) if timed else None,
                "load": round(load[b.name], 4) if timed else None,
            }
        )
    return {"gateway": cfg.gateway.id, "devices": devices, "buses": buses}


def _bits_per_char(bytesize: int, parity: str, stopbits: int) -> int:
    return 1 + bytesize + (0 if parity == "N" else 1) + stopbits


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f} ms"


def cmd_plan(args: argparse.Namespace) -> int:
    with reader_may_leave():  # `... --json | head` ends quietly
        return _plan(args)


def _plan(args: argparse.Namespace) -> int:
    if args.id is not None:
        extra = list(args.profiles)
        if args.config is not None:
            cfg = _load_config(args.config)
            extra += [cfg.resolve(p) for p in cfg.gateway.profiles]
        profiles = _load(extra)
        if args.id not in profiles:
            raise UsageError(f"no profile {args.id!r} (see `edge-agent profiles list`)")
        result = profile_plan(profiles[args.id], args.baudrate)
        if args.json:
            print_json(result)
        else:
            _print_profile_plan(result)
        return 0

    cfg = _load_config(args.config or DEFAULT_CONFIG)
    profiles = _load(list(args.profiles) + [cfg.resolve(p) for p in cfg.gateway.profiles])
    result = gateway_plan(cfg, profiles)
    if args.json:
        print_json(result)
        return 0
    devs = result["devices"]
    sys.stdout.write(
        f"gateway {result['gateway']}: {len(devs)} devices on {len(result['buses'])} buses\n\n"
    )
    print_table(
        [
            (
                e["bus"], e["kind"], e["device"], e["unit"], e["profile"], e["transactions"],
                e["registers"] + e["bits"], _baud(e), _ms(e["bus_time_ms"]),
                f"{e['poll_interval_s']:g} s",
            )
            for e in devs
        ],
        ("bus", "kind", "device", "unit", "profile", "requests", "registers", "baud",
         "bus time", "interval"),
    )  # fmt: skip
    sys.stdout.write("\n")
    for b in result["buses"]:
        line = f"bus {b['name']}: {b['transactions_per_cycle']} request(s) per cycle"
        if b["bus_time_ms_per_cycle"] is not None:
            line += (
                f", {b['bus_time_ms_per_cycle']:.1f} ms of line time; "
                f"{b['load'] * 100:.1f} % busy at the configured intervals"
            )
            if b["load"] > 1:
                line += " (OVERLOADED: polls will overrun)"
        sys.stdout.write(line + "\n")
    return 0


def _baud(e: dict[str, Any]) -> str:
    if e["baudrate"] is None:
        return "-"
    return f"{e['baudrate']} (profile)" if e["baudrate_from"] == "profile" else str(e["baudrate"])


def _print_profile_plan(result: dict[str, Any]) -> None:
    reqs = result["requests"]
    if result["protocol"] == "line":
        sys.stdout.write(
            f"profile {result['profile']}: an ASCII line sensor, one line per poll "
            "(no registers to plan)\n"
        )
        return
    sys.stdout.write(
        f"profile {result['profile']}: {len(reqs)} request(s) per poll at "
        f"{result['baudrate']} baud\n\n"
    )
    print_table(
        [
            (r["table"], r["address"], r["count"], _ms(r["bus_time_ms"]), ", ".join(r["points"]))
            for r in reqs
        ],
        ("table", "address", "count", "bus time", "points"),
    )
    naive = result["per_point"]
    sys.stdout.write(
        f"\ntotal {_ms(result['bus_time_ms'])} per poll, {result['registers']} register(s)"
        f" and {result['bits']} bit(s); one request per point would be "
        f"{naive['transactions']} request(s), {_ms(naive['bus_time_ms'])}\n"
    )


def _load_config(path: Path) -> GatewayConfig:
    return load_config(path, check_files=False)
