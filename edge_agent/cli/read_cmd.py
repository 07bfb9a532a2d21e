"""`edge-agent read|scan`: one-shot register reads and unit-id scans on a bus.

With a daemon running, both go through it (control-socket methods `read` and `scan`,
see docs/cli.md), so they take turns with its polling on the bus instead of colliding
on RS-485. With none, they open the bus themselves (ops.direct: the same operations),
from the config or from --port/--host alone. Their arguments are checked here first:
every mistake is one line and never reaches the bus.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import AsyncIterator
from typing import IO, Any, get_args

from drivers.base import BIT_TABLES, MAX_BITS_PER_READ, MAX_REGISTERS_PER_READ, TABLES
from drivers.profiles import WORDS, ByteOrder, PointType
from drivers.settings import BAUDRATES, Parity, StopBits
from edge_agent.cli import views
from edge_agent.cli.agent_client import call_agent, expect_dict, socket_paths
from edge_agent.cli.options import (
    UsageError,
    add_agent_options,
    add_command,
    parse_int,
    positive_float,
)
from edge_agent.cli.output import print_json
from edge_agent.control.client import NoAgentError, stream
from edge_agent.control.protocol import Params
from edge_agent.errors import EdgeAgentError
from edge_agent.ops.args import POINT_KEY

_POINT = re.compile(POINT_KEY)


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "read",
        "one-shot read of registers: raw words and decoded value",
        "Read registers once: through the running agent when there is one (it interleaves "
        "the request with its polling, so nothing collides on the bus), else directly on "
        "the bus. Give a configured POINT, or a bus (--bus, or ad hoc: --port for serial, "
        "--host for TCP; these work without a config) and what to read.",
        [
            "edge-agent read pt-101/pressure",
            "edge-agent read --bus rs485-1 --unit 3 --address 0x10 --type float32",
            "edge-agent read --port /dev/ttyUSB0 --baudrate 19200 --parity E --unit 1 "
            "--table input --address 0 --count 4",
            "edge-agent read --host 10.0.0.5:502 --unit 1 --address 100 --type int32 "
            "--byte-order CDAB --scale 0.01",
        ],
    )
    add_agent_options(p)
    p.add_argument("point", nargs="?", metavar="POINT", help="a configured device/point")
    _add_target_options(p)
    p.add_argument("--table", choices=TABLES, help="register table (default holding)")
    p.add_argument("--address", type=parse_int, metavar="N", help="0-based protocol address")
    p.add_argument("--count", type=parse_int, metavar="N", help="registers or bits to read")
    p.add_argument(
        "--type", choices=get_args(PointType), help="decode as this type (default uint16)"
    )
    p.add_argument(
        "--byte-order", choices=get_args(ByteOrder), help="word/byte order (default ABCD)"
    )
    p.add_argument("--scale", type=float, help="value = raw * scale + offset")
    p.add_argument("--offset", type=float)
    p.add_argument("--bit", type=parse_int, metavar="N", help="decode one bit (0-15) of a register")
    p.set_defaults(handler=cmd_read)

    p = add_command(
        sub,
        "scan",
        "find which unit ids answer on a bus",
        "Probe a range of unit ids with a one-register read (a Modbus exception reply "
        "counts as an answer: something is there), optionally asking each answering "
        "device to identify itself. Through the running agent when there is one, else "
        "directly on the bus; a configured bus with no devices yet works too. Shows a "
        "progress bar on stderr.",
        [
            "edge-agent scan --bus rs485-1",
            "edge-agent scan --port /dev/ttyUSB0 --baudrate 9600 --units 1-32 --identify",
            "edge-agent scan --host 10.0.0.5 --units 1,2,10-20 --timeout-each 0.3",
        ],
    )
    add_agent_options(p)
    _add_target_options(p, unit=False)
    p.add_argument(
        "--units",
        type=parse_units,
        default=list(range(1, 248)),
        metavar="LIST",
        help="unit ids, e.g. 1-32 or 1,5,10-20 (default 1-247)",
    )
    p.add_argument("--identify", action="store_true", help="ask for Read Device Identification")
    p.add_argument("--table", choices=TABLES, default="holding", help="probe table")
    p.add_argument("--address", type=parse_int, default=0, metavar="N", help="probe address")
    p.add_argument(
        "--timeout-each",
        type=positive_float,
        metavar="S",
        help="per-unit answer timeout, one attempt each (default: the bus's timeout_s and retries)",
    )
    p.set_defaults(handler=cmd_scan)


def _add_target_options(p: argparse.ArgumentParser, *, unit: bool = True) -> None:
    g = p.add_argument_group("bus (one of)")
    g.add_argument("--bus", metavar="NAME", help="a bus from the config")
    g.add_argument("--port", metavar="DEV", help="a serial port, ad hoc (Modbus RTU)")
    g.add_argument("--host", metavar="HOST[:PORT]", help="a Modbus TCP device, ad hoc")
    g.add_argument("--rtu-over-tcp", action="store_true", help="with --host: RTU frames over TCP")
    g.add_argument(
        "--baudrate",
        type=parse_int,
        choices=BAUDRATES,
        metavar="N",
        help="with --port (default 9600)",
    )
    g.add_argument("--parity", choices=get_args(Parity), help="with --port (default N)")
    g.add_argument(
        "--stopbits", type=parse_int, choices=get_args(StopBits), help="with --port (default 1)"
    )
    if unit:
        p.add_argument("--unit", type=parse_int, metavar="ID", help="unit id (default 1)")


# ---------------------------------------------------------------- argument checks


def parse_units(text: str) -> list[int]:
    """'1-10,15' -> [1..10, 15]; unit ids 0-247, each once, in order given."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if m is None:
            raise argparse.ArgumentTypeError(f"not a unit list: {text!r} (try 1-32 or 1,5,10-20)")
        lo = int(m.group(1))
        hi = int(m.group(2) or lo)
        if not 0 <= lo <= hi <= 247:
            raise argparse.ArgumentTypeError(f"unit ids go from 0 to 247, low to high: {part!r}")
        out += [u for u in range(lo, hi + 1) if u not in out]
    return out


def target_params(args: argparse.Namespace) -> dict[str, Any]:
    """--bus / --port / --host as the `target` of a read or scan request."""
    chosen = [o for o in ("bus", "port", "host") if getattr(args, o)]
    if len(chosen) != 1:
        raise UsageError("say which bus: exactly one of --bus, --port or --host")
    serial_opts = [o for o in ("baudrate", "parity", "stopbits") if getattr(args, o) is not None]
    if args.bus:
        if serial_opts or args.rtu_over_tcp:
            raise UsageError("--bus uses the bus's own settings; leave out --baudrate/--parity/...")
        return {"bus": args.bus}
    if args.port:
        if args.rtu_over_tcp:
            raise UsageError("--rtu-over-tcp goes with --host, not --port")
        return {
            "target": {
                "kind": "modbus-rtu",
                "port": args.port,
                "baudrate": args.baudrate or 9600,
                "parity": args.parity or "N",
                "stopbits": args.stopbits or 1,
            }
        }
    if serial_opts:
        raise UsageError(f"--{serial_opts[0]} goes with --port, not --host")
    host, port_text = split_host_port(args.host)
    try:
        port = int(port_text) if port_text else 502
    except ValueError:
        raise UsageError(f"--host {args.host!r}: the port must be a number") from None
    if not host or not 1 <= port <= 65535:
        raise UsageError(f"--host {args.host!r}: expected HOST or HOST:PORT (port 1-65535)")
    kind = "modbus-rtu-over-tcp" if args.rtu_over_tcp else "modbus-tcp"
    return {"target": {"kind": kind, "host": host, "port": port}}


def split_host_port(text: str) -> tuple[str, str]:
    """'10.0.0.5:502', 'plc.local', '[fe80::1]:502', 'fe80::1' -> (host, port text or '')."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, rest.removeprefix(":")
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    return text, ""  # a name, an IPv4 address, or a bare IPv6 address


def read_params(args: argparse.Namespace) -> Params:
    """Check `read`'s arguments and build the request; every mistake is one line."""
    addressing = {
        k: getattr(args, k)
        for k in ("table", "address", "count", "type", "byte_order", "scale", "offset", "bit")
        if getattr(args, k) is not None
    }
    if args.point is not None:
        if not _POINT.match(args.point):
            raise UsageError(
                f"not a point: {args.point!r} (expected device/point, e.g. pt-101/pressure)"
            )
        given = [o for o in ("bus", "port", "host") if getattr(args, o)] + list(addressing)
        if given or args.unit is not None:
            extra = given[0] if given else "unit"
            raise UsageError(
                f"a POINT reads as its profile says; leave out --{extra.replace('_', '-')}"
            )
        return {"point": args.point}
    params: Params = target_params(args)
    if args.address is None:
        raise UsageError("--address is required (0-based protocol address) unless a POINT is given")
    table = args.table or "holding"
    bits = table in BIT_TABLES
    typ = args.type or ("bool" if bits else "uint16")
    width = WORDS[typ]
    count = args.count if args.count is not None else width
    limit = MAX_BITS_PER_READ if bits else MAX_REGISTERS_PER_READ
    unit = 1 if args.unit is None else args.unit
    if not 0 <= unit <= 247:
        raise UsageError(f"--unit {unit}: unit ids go from 0 to 247")
    if not 0 <= args.address <= 65535:
        raise UsageError(f"--address {args.address}: addresses go from 0 to 65535")
    if not 1 <= count <= limit:
        raise UsageError(f"--count {count}: a {table} read takes 1 to {limit}")
    if args.address + count > 65536:
        raise UsageError(f"--address {args.address} --count {count} runs past address 65535")
    if count < width:
        raise UsageError(f"--type {typ} needs {width} registers, --count is {count}")
    if bits and typ != "bool":
        raise UsageError(f"a {table} read gives bits: --type must be bool, not {typ}")
    if args.bit is not None and not (typ in ("uint16", "int16") and 0 <= args.bit <= 15):
        raise UsageError("--bit takes 0-15 and a 16-bit --type (uint16 or int16)")
    byte_order = args.byte_order or ("AB" if width == 1 else "ABCD")
    if (width == 1) != (byte_order in ("AB", "BA")):
        allowed = "AB or BA" if width == 1 else "ABCD, DCBA, BADC or CDAB"
        raise UsageError(f"--byte-order {byte_order} does not fit {typ}: use {allowed}")
    params.update(
        unit=unit,
        table=table,
        address=args.address,
        count=count,
        type=typ,
        byte_order=byte_order,
        scale=1.0 if args.scale is None else args.scale,
        offset=0.0 if args.offset is None else args.offset,
    )
    if args.bit is not None:
        params["bit"] = args.bit
    return params


def scan_params(args: argparse.Namespace) -> Params:
    params: Params = target_params(args)
    if not 0 <= args.address <= 65535:
        raise UsageError(f"--address {args.address}: addresses go from 0 to 65535")
    params.update(units=args.units, table=args.table, address=args.address, identify=args.identify)
    if args.timeout_each is not None:
        params["timeout_s"] = args.timeout_each
    return params


# ---------------------------------------------------------------- commands


def _directly(args: argparse.Namespace, params: Params, err: IO[str]) -> dict[str, Any]:
    """No agent answers: the operation itself (ops.direct) on the gateway of the config,
    or, with no config file, on an ad-hoc --port/--host."""
    # The bus drivers load only here (pyserial, pymodbus): `status` and friends never do.
    from edge_agent.ops import direct

    if _adhoc_without_config(args, params):
        err.write("edge-agent: no config and no agent: opening the bus directly\n")
        gw = direct.direct_gateway(None)
    else:
        err.write(f"edge-agent: no agent running: opening the bus directly ({args.config})\n")
        gw = direct.direct_gateway(args.config)
    if args.command == "read":
        return asyncio.run(direct.read(gw, params))
    return asyncio.run(_scan(direct.scan(gw, params), len(params["units"]), err))


def _adhoc_without_config(args: argparse.Namespace, params: Params) -> bool:
    """--port/--host with no config file: commissioning a bare gateway."""
    return "target" in params and not args.config.exists()


def _agent_may_answer(args: argparse.Namespace, params: Params) -> bool:
    """Is an agent there to ask? With no config and no --socket, there is nowhere to look."""
    return args.socket is not None or not _adhoc_without_config(args, params)


def cmd_read(args: argparse.Namespace) -> int:
    params = read_params(args)
    result: dict[str, Any] | None = None
    if _agent_may_answer(args, params):
        try:
            result = expect_dict(call_agent(args, "read", params), "read")
        except NoAgentError:
            result = None
    if result is None:
        result = _directly(args, params, sys.stderr)
    if args.json:
        print_json(result)
    else:
        sys.stdout.write(views.render_read(result))
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    params = scan_params(args)
    result: dict[str, Any] | None = None
    if _agent_may_answer(args, params):
        try:
            items = stream(socket_paths(args), "scan", params, connect_timeout_s=args.timeout)
            result = asyncio.run(_scan(items, len(params["units"]), sys.stderr))
        except NoAgentError:
            result = None
    if result is None:
        result = _directly(args, params, sys.stderr)
    if args.json:
        print_json(result)
    else:
        sys.stdout.write(views.render_scan(result))
    return 0


async def _scan(items: AsyncIterator[Any], total: int, err: IO[str]) -> dict[str, Any]:
    tty = err.isatty()
    last_tenth = -1
    found = 0
    result: dict[str, Any] = {}
    async for item in items:
        if not isinstance(item, dict):
            continue
        if "found" in item and "scanned" in item:  # the final result
            result = item
            break
        found += 1 if item.get("answer") else 0
        done = int(item.get("done", 0))
        bar = views.render_progress(done, total, found)
        if tty:
            err.write("\r" + bar)
        elif done * 10 // total != last_tenth or done == total:
            # Not a terminal (a log, a pipe): a line per tenth instead of redrawing.
            last_tenth = done * 10 // total
            err.write(bar + "\n")
        err.flush()
    if tty:
        err.write("\n")
    if not result:
        raise EdgeAgentError("the agent ended the scan without a result")
    return result
