"""Read one device: run its plan on a bus and decode every point. Faults become data."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from drivers.base import Bus, PointValue, ReadRequest
from drivers.decode import NAN, decode_point
from drivers.errors import BusClosed, BusTimeout, DeviceException, DriverError
from drivers.profiles import Profile

log = logging.getLogger(__name__)

# Modbus exception 2: the request touched an address the device does not have.
ILLEGAL_ADDRESS = 2

_split_warned: set[tuple[str, str, int]] = set()


def _bad(names: Sequence[str], reason: str) -> dict[str, PointValue]:
    return {n: PointValue(n, NAN, "bad", reason) for n in names}


async def _run(
    bus: Bus, unit: int, req: ReadRequest, profile: Profile
) -> tuple[dict[str, PointValue], DriverError | None]:
    try:
        words = await bus.read(unit, req.table, req.address, req.count)
    except DriverError as err:
        return _bad(req.points, err.reason), err
    out: dict[str, PointValue] = {}
    for name in req.points:
        spec = profile.point(name)
        start = spec.address - req.address
        value, quality, reason = decode_point(spec, words[start : start + spec.words])
        out[name] = PointValue(name, value, quality, reason)
    return out, None


async def read_device(
    bus: Bus, unit: int, plan: Sequence[ReadRequest], profile: Profile
) -> list[PointValue]:
    """Every point of `plan`, in profile order. Never raises DriverError.

    A failed request makes its points bad with the fault's reason ("timeout",
    "exception code 2"). After a transport fault (no answer, link down) the rest of
    the plan is not tried: the device is silent, and each further timeout would steal
    bus time from healthy devices. A merged request refused with "illegal address"
    is retried point by point, so a gap the profile did not know about costs a few
    requests instead of every value of the span.
    """
    values: dict[str, PointValue] = {}
    down: DriverError | None = None
    for i, req in enumerate(plan):
        if down is not None:
            values.update(_bad(req.points, down.reason))
            continue
        if i and profile.quirks.request_delay_s:
            await asyncio.sleep(profile.quirks.request_delay_s)
        got, err = await _run(bus, unit, req, profile)
        if isinstance(err, DeviceException) and err.code == ILLEGAL_ADDRESS and len(req.points) > 1:
            key = (profile.id, req.table, req.address)
            if key not in _split_warned:
                _split_warned.add(key)
                log.warning(
                    "illegal address on a merged read, reading points one by one "
                    "profile=%s unit=%d table=%s address=%d count=%d "
                    "(set quirks.max_gap = 0 or quirks.forbidden in the profile)",
                    profile.id,
                    unit,
                    req.table,
                    req.address,
                    req.count,
                )
            got = {}
            for name in req.points:
                if down is not None:
                    got.update(_bad([name], down.reason))
                    continue
                spec = profile.point(name)
                one = ReadRequest(spec.table, spec.address, spec.words, (name,))
                sub, sub_err = await _run(bus, unit, one, profile)
                got.update(sub)
                if isinstance(sub_err, (BusTimeout, BusClosed)):
                    down = sub_err
        elif isinstance(err, (BusTimeout, BusClosed)):
            down = err
        values.update(got)
    order = [p.name for p in profile.points if p.name in values]
    return [values[n] for n in order]
