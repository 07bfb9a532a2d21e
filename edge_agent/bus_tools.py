"""One-shot register reads and unit scans for technicians, through the daemon's own
bus queues, so they never collide with polling on a half-duplex RS-485 line."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from drivers.bus import BusLine, open_bus
from drivers.decode import decode_point, interpretations
from drivers.errors import BusClosed, DeviceException, DriverError
from drivers.identify import scan_units
from drivers.profiles import PointSpec
from drivers.settings import BusConfig
from edge_agent.control import MethodError
from edge_agent.status_report import bus_target

if TYPE_CHECKING:
    from edge_agent.agent import Agent

Json = dict[str, Any]
_BUS = TypeAdapter(BusConfig)
_TABLES = ("holding", "input", "coil", "discrete")


@contextlib.asynccontextmanager
async def _bus_for(agent: Agent, params: Json) -> AsyncIterator[tuple[BusLine, str, str]]:
    """The configured bus named by `bus`, or the one serving an ad-hoc `target`, or a
    temporary connection to that target. Yields (bus, name, target text)."""
    if "bus" in params:
        name = params["bus"]
        if name not in agent.buses:
            known = ", ".join(agent.buses) or "none"
            raise MethodError(f"no bus {name!r} on this gateway (buses: {known})")
        yield agent.buses[name], name, bus_target(agent.cfg.bus(name))
        return
    target = params.get("target")
    if not isinstance(target, dict):
        raise MethodError("give a configured `bus` or an ad-hoc `target`")
    try:
        cfg = _BUS.validate_python({"name": "adhoc", **target})
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(x) for x in first["loc"][1:])
        raise MethodError(f"bad target {where}: {first['msg']}") from err
    text = bus_target(cfg)
    for b in agent.cfg.buses:
        if bus_target(b).split()[0] == text.split()[0] and b.name in agent.buses:
            yield agent.buses[b.name], b.name, bus_target(b)  # same line: use its queue
            return
    async with open_bus(cfg) as bus:
        yield bus, "adhoc", text


def _int(params: Json, key: str, lo: int, hi: int, default: int | None = None) -> int:
    v = params.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise MethodError(f"{key} must be an integer {lo}..{hi}")
    return v


def _raw_spec(params: Json) -> PointSpec:
    table = params.get("table", "holding")
    if table not in _TABLES:
        raise MethodError(f"table must be one of {', '.join(_TABLES)}")
    try:
        return PointSpec.model_validate({
            "name": "raw", "quantity": "raw", "table": table,
            "address": _int(params, "address", 0, 65535),
            "type": params.get("type", "bool" if table in ("coil", "discrete") else "uint16"),
            "byte_order": params.get("byte_order", "ABCD"), "bit": params.get("bit"),
            "scale": params.get("scale", 1.0), "offset": params.get("offset", 0.0),
        })  # fmt: skip
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        raise MethodError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from err


async def read_registers(agent: Agent, params: Json) -> Json:
    point_key = params.get("point")
    eng_unit = ""
    if point_key is not None:
        device, _, point = str(point_key).partition("/")
        poller = agent.pollers.get(device)
        if poller is None:
            raise MethodError(f"no device {device!r} is polled on this gateway")
        try:
            spec = poller.profile.point(point)
        except KeyError as err:
            names = ", ".join(p.name for p in poller.profile.points)
            raise MethodError(f"device {device!r} has no point {point!r} ({names})") from err
        unit, eng_unit = poller.device.unit, spec.unit
        bus_params: Json = {"bus": poller.device.bus}
    else:
        spec = _raw_spec(params)
        unit = _int(params, "unit", 0, 247)
        bus_params = params
    count = _int(params, "count", 1, 125, spec.words) if point_key is None else spec.words
    async with _bus_for(agent, bus_params) as (bus, name, target):
        where = f"{name} unit {unit} {spec.table} {spec.address}"
        started = time.monotonic()
        try:
            words = await bus.read(unit, spec.table, spec.address, count)
        except DeviceException as err:
            raise MethodError(f"{where}: {err.reason} ({err})") from err
        except DriverError as err:
            raise MethodError(f"{where}: {err.reason}") from err
        latency_ms = round(1000 * (time.monotonic() - started), 1)
    value, quality, reason = decode_point(spec, words[: spec.words])
    out: Json = {
        "point": point_key, "bus": name, "target": target, "unit": unit, "table": spec.table,
        "address": spec.address, "count": count, "registers": words, "type": spec.type,
        "byte_order": spec.byte_order, "scale": spec.scale, "offset": spec.offset,
        "value": value, "eng_unit": eng_unit, "quality": quality, "reason": reason,
        "latency_ms": latency_ms,
    }  # fmt: skip
    if spec.table in ("holding", "input"):
        # Every type and byte order the words could be: the cure for float-order guessing.
        out["interpretations"] = interpretations(words)
    return out


async def scan_bus(agent: Agent, params: Json) -> AsyncGenerator[Json, None]:
    units = params.get("units", list(range(1, 248)))
    if (
        not isinstance(units, list)
        or not units
        or not all(isinstance(u, int) and 0 <= u <= 247 for u in units)
    ):
        raise MethodError("units must be a non-empty list of unit ids 0..247")
    table = params.get("table", "holding")
    if table not in _TABLES:
        raise MethodError(f"table must be one of {', '.join(_TABLES)}")
    address = _int(params, "address", 0, 65535, 0)
    by_unit = {(d.bus, d.unit): d.name for d in agent.cfg.devices}
    found: list[Json] = []
    started = time.monotonic()
    async with _bus_for(agent, params) as (bus, name, target):
        probes = scan_units(
            bus, units, table=table, address=address,
            identify_unit=bool(params.get("identify")), profiles=agent.profiles,
        )  # fmt: skip
        n = 0
        try:
            async for probe in probes:
                n += 1
                if probe.answer is not None:
                    found.append({**probe.as_dict(), "device": by_unit.get((name, probe.unit))})
                yield {"unit": probe.unit, "done": n, "total": len(units), "answer": probe.answer}
        except BusClosed as err:
            raise MethodError(f"bus {name} ({target}) is not open: {err}") from err
    yield {
        "bus": name, "target": target, "scanned": len(units),
        "elapsed_s": round(time.monotonic() - started, 2), "found": found,
    }  # fmt: skip
