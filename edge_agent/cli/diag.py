"""`edge-agent status|alarms|tail|read|scan`: a technician's view of the running daemon.

Each command is a thin client of one control-socket method (docs/cli.md lists
them and their result shapes). `read` and `scan` go through the daemon so they
take turns with its polling on the bus instead of colliding on RS-485.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from edge_agent.cli import views
from edge_agent.cli.output import print_json
from edge_agent.cli.root import UsageError
from edge_agent.config import GatewayConfig, problems_from_validation, read_toml
from edge_agent.control import NoAgentError, Params, call, client_socket_paths, stream
from edge_agent.errors import ConfigError, EdgeAgentError

TABLES = ("holding", "input", "coil", "discrete")
TYPES = ("uint16", "int16", "uint32", "int32", "int64", "float32", "float64", "bool")
BYTE_ORDERS = ("ABCD", "DCBA", "BADC", "CDAB", "AB", "BA")
_WIDTH = {"uint16": 1, "int16": 1, "bool": 1, "uint32": 2, "int32": 2, "float32": 2}
_POINT_GLOB = re.compile(r"^[A-Za-z0-9_.*?\[\]-]+(/[A-Za-z0-9_.*?\[\]-]+)?$")
_POINT = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
MAX_REGISTERS = 125  # Modbus: read holding/input registers, function codes 3/4
MAX_BITS = 2000  # Modbus: read coils/discrete inputs, function codes 1/2


@contextlib.contextmanager
def reader_may_leave() -> Iterator[None]:
    """`edge-agent tail | head`: the reader going away is how such a pipe ends, not an
    error. Point stdout at /dev/null so the interpreter's final flush stays quiet too."""
    try:
        yield
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


# ---------------------------------------------------------------- finding the daemon


def load_gateway_config(path: Path) -> GatewayConfig:
    """The config as far as finding the daemon needs: validated, but without loading
    profiles and rules (the daemon already did, and a technician's `status` should not
    fail on a rule file being edited)."""
    raw = read_toml(path)
    try:
        cfg = GatewayConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(problems_from_validation(str(path), err)) from err
    cfg._base_dir = path.parent.resolve()
    return cfg


def socket_paths(args: argparse.Namespace) -> list[Path]:
    if args.socket is not None:
        return [args.socket]
    return client_socket_paths(load_gateway_config(args.config))


def _add_common(p: argparse.ArgumentParser, *, json_help: str = "machine-readable output") -> None:
    from edge_agent.cli.root import add_config_option

    add_config_option(p)
    p.add_argument(
        "--socket",
        type=Path,
        metavar="PATH",
        help="the agent's control socket (default: found from the config: "
        "/run/edge-agent/control.sock under systemd, else {data_dir}/control.sock)",
    )
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument(
        "--timeout",
        type=_positive_float,
        default=10.0,
        metavar="S",
        help="give up if the agent does not answer in S seconds (default 10)",
    )


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return v


def _int(text: str) -> int:
    """Decimal or 0x-hex, as register maps are written."""
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _register(sub: Any, name: str, help_: str, description: str, examples: list[str]) -> Any:
    return sub.add_parser(
        name,
        help=help_,
        description=description,
        epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def register(sub: Any) -> None:
    p = _register(
        sub,
        "status",
        "is this gateway healthy, and if not, which device and why",
        "Ask the running agent for its state: a verdict line, uplink state, buffer depth "
        "and age of the oldest unsent message, per-bus counters, each device's state, "
        "reason and last good reading, active alarms, operating mode and versions.",
        [
            "edge-agent status",
            "edge-agent status -c /etc/edge-agent/gateway.toml --json | jq .devices",
        ],
    )
    _add_common(p)
    p.set_defaults(handler=cmd_status)

    p = _register(
        sub,
        "alarms",
        "active alarms and recent alarm events",
        "List the active alarms (most severe first) and the most recent alarm events.",
        ["edge-agent alarms", "edge-agent alarms --recent 100 --json"],
    )
    _add_common(p)
    p.add_argument(
        "--recent",
        type=_int,
        default=20,
        metavar="N",
        help="how many recent events to show (default 20, 0 for none)",
    )
    p.set_defaults(handler=cmd_alarms)

    p = _register(
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
    _add_common(p, json_help="one JSON object per line")
    p.add_argument("points", nargs="*", metavar="POINTS", help="device/point globs")
    p.add_argument("--count", type=_int, metavar="N", help="stop after N readings")
    p.add_argument("--bad", action="store_true", help="only readings that are not good")
    p.add_argument("--no-alarms", action="store_true", help="leave alarm events out")
    p.set_defaults(handler=cmd_tail)

    p = _register(
        sub,
        "read",
        "one-shot read of registers: raw words and decoded value",
        "Read registers once through the running agent (it interleaves the request with "
        "its polling, so nothing collides on the bus). Give a configured POINT, or a bus "
        "(--bus, or ad hoc: --port for serial, --host for TCP) and what to read.",
        [
            "edge-agent read pt-101/pressure",
            "edge-agent read --bus rs485-1 --unit 3 --address 0x10 --type float32",
            "edge-agent read --port /dev/ttyUSB0 --baudrate 19200 --parity E --unit 1 "
            "--table input --address 0 --count 4",
            "edge-agent read --host 10.0.0.5:502 --unit 1 --address 100 --type int32 "
            "--byte-order CDAB --scale 0.01",
        ],
    )
    _add_common(p)
    p.add_argument("point", nargs="?", metavar="POINT", help="a configured device/point")
    _add_target_options(p)
    p.add_argument("--table", choices=TABLES, help="register table (default holding)")
    p.add_argument("--address", type=_int, metavar="N", help="0-based protocol address")
    p.add_argument("--count", type=_int, metavar="N", help="registers or bits to read")
    p.add_argument("--type", choices=TYPES, help="decode as this type (default uint16)")
    p.add_argument("--byte-order", choices=BYTE_ORDERS, help="word/byte order (default ABCD)")
    p.add_argument("--scale", type=float, help="value = raw * scale + offset")
    p.add_argument("--offset", type=float)
    p.add_argument("--bit", type=_int, metavar="N", help="decode one bit (0-15) of a register")
    p.set_defaults(handler=cmd_read)

    p = _register(
        sub,
        "scan",
        "find which unit ids answer on a bus",
        "Probe a range of unit ids with a one-register read (a Modbus exception reply "
        "counts as an answer: something is there), optionally asking each answering "
        "device to identify itself. Shows a progress bar on stderr.",
        [
            "edge-agent scan --bus rs485-1",
            "edge-agent scan --port /dev/ttyUSB0 --baudrate 9600 --units 1-32 --identify",
            "edge-agent scan --host 10.0.0.5 --units 1,2,10-20 --timeout-each 0.3",
        ],
    )
    _add_common(p)
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
    p.add_argument("--address", type=_int, default=0, metavar="N", help="probe address")
    p.add_argument(
        "--timeout-each",
        type=_positive_float,
        metavar="S",
        help="per-unit answer timeout (default: the bus's timeout_s)",
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
        type=_int,
        choices=(1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200),
        metavar="N",
        help="with --port (default 9600)",
    )
    g.add_argument("--parity", choices=("N", "E", "O"), help="with --port (default N)")
    g.add_argument("--stopbits", type=_int, choices=(1, 2), help="with --port (default 1)")
    if unit:
        p.add_argument("--unit", type=_int, metavar="ID", help="unit id (default 1)")


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


def point_globs(points: list[str]) -> list[str]:
    out = []
    for p in points:
        if not _POINT_GLOB.match(p):
            raise UsageError(f"not a point pattern: {p!r} (expected device/point, globs allowed)")
        out.append(p if "/" in p else f"{p}/*")
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
    typ = args.type or ("bool" if table in ("coil", "discrete") else "uint16")
    width = _WIDTH.get(typ, 4)
    count = args.count if args.count is not None else width
    limit = MAX_BITS if table in ("coil", "discrete") else MAX_REGISTERS
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
    if table in ("coil", "discrete") and typ != "bool":
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


def _call(args: argparse.Namespace, method: str, params: Params | None = None) -> Any:
    return asyncio.run(call(socket_paths(args), method, params or {}, args.timeout))


def _expect_dict(result: Any, method: str) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise EdgeAgentError(f"the agent's {method!r} reply is not an object: {str(result)[:100]}")
    return result


def cmd_status(args: argparse.Namespace) -> int:
    result = _expect_dict(_call(args, "status"), "status")
    if args.json:
        print_json(result)
    else:
        sys.stdout.write(views.render_status(result))
    return 0


def cmd_alarms(args: argparse.Namespace) -> int:
    if args.recent < 0:
        raise UsageError("--recent must be 0 or more")
    result = _expect_dict(_call(args, "alarms", {"recent": args.recent}), "alarms")
    if args.json:
        print_json(result)
    else:
        sys.stdout.write(views.render_alarms(result, int(result.get("now_ms", 0))))
    return 0


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


def _through_agent(err: NoAgentError, command: str) -> NoAgentError:
    return NoAgentError(
        f"{err}; `{command}` goes through the running agent so it never collides with its "
        "polling: start it (systemctl start edge-agent)"
    )


def cmd_read(args: argparse.Namespace) -> int:
    params = read_params(args)
    try:
        result = _expect_dict(_call(args, "read", params), "read")
    except NoAgentError as err:
        raise _through_agent(err, "read") from err
    if args.json:
        print_json(result)
    else:
        sys.stdout.write(views.render_read(result))
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    params = scan_params(args)
    try:
        result = asyncio.run(_scan(args, params, sys.stderr))
    except NoAgentError as err:
        raise _through_agent(err, "scan") from err
    if args.json:
        print_json(result)
    else:
        sys.stdout.write(views.render_scan(result))
    return 0


async def _scan(args: argparse.Namespace, params: Params, err: IO[str]) -> dict[str, Any]:
    total = len(params["units"])
    tty = err.isatty()
    last_tenth = -1
    found = 0
    result: dict[str, Any] = {}
    async for item in stream(socket_paths(args), "scan", params, connect_timeout_s=args.timeout):
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
