"""`read`: one configured point, or raw registers with every interpretation of them."""

from __future__ import annotations

import time

from pydantic import ValidationError

from drivers.base import BIT_TABLES
from drivers.decode import decode_point, interpretations
from drivers.errors import BusTimeout, DeviceException, DriverError
from drivers.profiles import PointSpec
from edge_agent.errors import validation_brief
from edge_agent.ops.args import ReadArgs
from edge_agent.ops.bus_access import bus_for
from edge_agent.ops.errors import OpError
from edge_agent.ops.state import GatewayBuses
from edge_agent.records import Json


def _raw_spec(args: ReadArgs) -> PointSpec:
    try:
        return PointSpec.model_validate({
            "name": "raw", "quantity": "raw", "table": args.table, "address": args.address,
            "type": args.type or ("bool" if args.table in BIT_TABLES else "uint16"),
            "byte_order": args.byte_order, "bit": args.bit,
            "scale": args.scale, "offset": args.offset,
        })  # fmt: skip
    except ValidationError as err:
        raise OpError(validation_brief(err, limit=1)) from err


async def read(gw: GatewayBuses, args: ReadArgs) -> Json:
    eng_unit = ""
    bus, target = args.bus, args.target
    if args.point is not None:
        name, _, point = args.point.partition("/")
        device = next((d for d in gw.cfg.devices if d.name == name and d.enabled), None)
        if device is None or device.profile not in gw.profiles:
            raise OpError(f"no device {name!r} is polled on this gateway")
        profile = gw.profiles[device.profile]
        try:
            spec = profile.point(point)
        except KeyError as err:
            names = ", ".join(p.name for p in profile.points)
            raise OpError(f"device {name!r} has no point {point!r} ({names})") from err
        unit, eng_unit = device.unit, spec.unit
        bus, target = device.bus, None
        count = spec.words
    else:
        spec = _raw_spec(args)
        assert args.unit is not None  # ReadArgs checked: raw reads name a unit
        unit = args.unit
        count = args.count or spec.words
    async with bus_for(gw, bus, target) as (line, name, target_text):
        where = f"{name} unit {unit} {spec.table} {spec.address}"
        started = time.monotonic()
        try:
            words = await line.read(unit, spec.table, spec.address, count)
        except DeviceException as err:
            raise OpError(f"{where}: {err.reason} ({err.name})") from err
        except BusTimeout as err:
            waited = time.monotonic() - started
            raise OpError(f"{where}: timeout: no answer, waited {waited:.1f} s ({err})") from err
        except DriverError as err:
            raise OpError(f"{where}: {err.reason} ({err})") from err
        latency_ms = round(1000 * (time.monotonic() - started), 1)
    value, quality, reason = decode_point(spec, words[: spec.words])
    out: Json = {
        "point": args.point, "bus": name, "target": target_text, "unit": unit,
        "table": spec.table, "address": spec.address, "count": count, "registers": words,
        "type": spec.type, "byte_order": spec.byte_order, "scale": spec.scale,
        "offset": spec.offset, "value": value, "eng_unit": eng_unit, "quality": quality,
        "reason": reason, "latency_ms": latency_ms,
    }  # fmt: skip
    if spec.table not in BIT_TABLES:
        # Every type and byte order the words could be: the cure for float-order guessing.
        out["interpretations"] = interpretations(words)
    return out
