"""Read one device: run its plan on a bus and decode every point. Faults become data."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence

from drivers.base import Bus, PointValue, ReadRequest
from drivers.decode import NAN, decode_point
from drivers.errors import BusClosed, BusTimeout, DeviceException, DriverError, FrameError
from drivers.profiles import PointSpec, Profile
from drivers.serial_line import parse_line

log = logging.getLogger(__name__)

# Modbus exception 2: the request touched an address the device does not have.
ILLEGAL_ADDRESS = 2

_split_warned: set[tuple[str, str, int]] = set()

# Per point: its registers, or the reason they could not be read.
Raw = dict[str, list[int] | str]


async def _run(
    bus: Bus, unit: int, req: ReadRequest, specs: dict[str, PointSpec]
) -> tuple[Raw, DriverError | None]:
    try:
        words = await bus.read(unit, req.table, req.address, req.count)
    except DriverError as err:
        return dict.fromkeys(req.points, err.reason), err
    out: Raw = {}
    for name in req.points:
        spec = specs[name]
        start = spec.address - req.address
        out[name] = words[start : start + spec.words]
    return out, None


async def _split(
    bus: Bus, unit: int, req: ReadRequest, profile: Profile, specs: dict[str, PointSpec]
) -> tuple[Raw, DriverError | None]:
    """Read a refused merged request point by point."""
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
    got: Raw = {}
    down: DriverError | None = None
    for name in req.points:
        if down is not None:
            got[name] = down.reason
            continue
        spec = specs[name]
        one = ReadRequest(spec.table, spec.address, spec.words, (name,))
        sub, err = await _run(bus, unit, one, specs)
        got.update(sub)
        if isinstance(err, (BusTimeout, BusClosed)):
            down = err
    return got, down


async def read_raw(bus: Bus, unit: int, plan: Sequence[ReadRequest], profile: Profile) -> Raw:
    """Registers of every point of `plan`, or the reason they are missing. Never raises
    DriverError.

    After a transport fault (no answer, link down, a garbled answer) the rest of the
    plan is not tried: the device is unreachable, and each further timeout would steal
    bus time from healthy devices. A garbled frame costs a full timeout too (the client
    waits for a valid frame), and is seldom alone: wrong parity or a noisy line garble
    every answer. A merged request refused with "illegal address" is retried point by
    point, so a gap the profile did not know about costs a few requests instead of
    every value of the span (telegraf#13630, fledge#1109).
    """
    specs = {p.name: p for p in profile.points}
    raw: Raw = {}
    down: DriverError | None = None
    for i, req in enumerate(plan):
        if down is not None:
            raw.update(dict.fromkeys(req.points, down.reason))
            continue
        if i and profile.quirks.request_delay_s:
            await asyncio.sleep(profile.quirks.request_delay_s)
        got, err = await _run(bus, unit, req, specs)
        if isinstance(err, DeviceException) and err.code == ILLEGAL_ADDRESS and len(req.points) > 1:
            got, err = await _split(bus, unit, req, profile, specs)
        if isinstance(err, (BusTimeout, BusClosed, FrameError)):
            down = err
        raw.update(got)
    return raw


def decode_all(raw: Raw, profile: Profile) -> list[PointValue]:
    """Decode read registers in profile order; dependent points after the ones they use."""
    done: dict[str, PointValue] = {}
    specs = [p for p in profile.points if p.name in raw]
    plain = [p for p in specs if p.decimals_from is None and p.valid_if is None]
    dependent = [p for p in specs if p.decimals_from is not None or p.valid_if is not None]
    for spec in plain + dependent:
        words = raw[spec.name]
        if isinstance(words, str):
            done[spec.name] = PointValue(spec.name, NAN, "bad", words)
            continue
        decimals: float | None = None
        if spec.decimals_from is not None:
            src = done.get(spec.decimals_from)
            decimals = src.value if src is not None and src.quality != "bad" else None
        value, quality, reason = decode_point(spec, words, decimals=decimals)
        if spec.valid_if is not None and quality != "bad":
            status = done.get(spec.valid_if.point)
            if status is None or status.quality == "bad" or math.isnan(status.value):
                quality, reason = "uncertain", f"status {spec.valid_if.point} unknown"
            elif status.value not in spec.valid_if.values:
                quality, reason = "bad", spec.valid_if.reason
        done[spec.name] = PointValue(spec.name, value, quality, reason)
    return [done[p.name] for p in specs]


async def read_device(
    bus: Bus, unit: int, plan: Sequence[ReadRequest], profile: Profile
) -> list[PointValue]:
    """Every point of `plan`, in profile order. Never raises DriverError: a failed
    request makes its points bad with the fault's reason ("timeout", "exception code 2").

    A line profile (protocol "line") reads one line from a serial-line bus instead.
    """
    if profile.protocol == "line":
        return await _read_line_device(bus, unit, profile)
    return decode_all(await read_raw(bus, unit, plan, profile), profile)


async def _read_line_device(bus: Bus, unit: int, profile: Profile) -> list[PointValue]:
    reader = getattr(bus, "read_line", None)
    try:
        if reader is None:
            raise DeviceException(
                1, f"bus {bus.name}: profile {profile.id} needs a serial-line bus"
            )
        line: str = await reader(unit, profile)
    except DriverError as err:
        return [PointValue(p.name, NAN, "bad", err.reason) for p in profile.points]
    return parse_line(profile, line)
