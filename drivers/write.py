"""Write one point, as carefully as it is read: the point's own type, byte order, scale
and offset (`decode.encode_point`, the inverse of a read), the function code its table
needs (coil: FC5/FC15, holding: FC6/FC16), and a read-back that must equal what was
written.

A write is refused before any frame is sent when the point is not `writable`, the value
is outside its `write_range` or does not fit its type. On the line it takes one turn
(`BusLine.exchange`, urgent: ahead of queued polls) for the write and its read-back, so
nothing else talks to the device in between. A bit inside a holding register is read,
changed and written back in that same turn. Every bus fault and every mismatch becomes a
`WriteOutcome` with `ok = False` and the reason; `write_point` never raises a DriverError.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from drivers.base import BIT_TABLES, PointValue
from drivers.bus import URGENT, BusLine, Exchange
from drivers.decode import NAN, decode_point, encode_point
from drivers.errors import DriverError
from drivers.profiles import PointSpec, Profile


class WriteRefusedError(ValueError):
    """The write would not be sent: the point or the value does not allow it."""


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What became of one write: the registers (or bits) sent, the value read back."""

    point: str
    value: float
    ok: bool
    reason: str | None = None
    words: tuple[int, ...] = ()
    read_back: float | None = None
    duration_s: float = 0.0


def refusal(spec: PointSpec, value: float) -> str | None:
    """Why `value` may not be written to `spec` (None: it may)."""
    if not spec.writable:
        return f"point {spec.name} is not writable (its profile does not mark it writable)"
    if not math.isfinite(value):
        return f"{value} is not a value a point can take"
    if spec.write_range is not None:
        lo, hi = spec.write_range
        if not lo <= value <= hi:
            return f"{value:g} is outside write_range [{lo:g}, {hi:g}] of {spec.name}"
    try:
        encode_point(spec, value)
    except (ValueError, OverflowError) as err:
        return str(err)
    return None


def encode_write(spec: PointSpec, value: float) -> list[int]:
    """The registers (or bit) a write of `value` sends; WriteRefusedError when it may not."""
    why = refusal(spec, value)
    if why is not None:
        raise WriteRefusedError(why)
    return encode_point(spec, value)


def _matches(spec: PointSpec, sent: list[int], back: list[int]) -> bool:
    if spec.table in BIT_TABLES:
        return bool(back[0]) == bool(sent[0])
    if spec.bit is not None:
        mask = encode_point(spec, 1.0)[0]
        return (back[0] & mask) == (sent[0] & mask)
    return back == sent


async def write_point(
    bus: BusLine, unit: int, profile: Profile, point: str, value: float, *, priority: int = URGENT
) -> WriteOutcome:
    """Write `value` to `point` of the device at `unit` and read it back.

    Raises KeyError for a point the profile lacks and WriteRefusedError for a write the
    point does not allow; every fault on the bus is a failed outcome with its reason.
    """
    spec = profile.point(point)
    words = encode_write(spec, value)
    delay_s = profile.quirks.request_delay_s
    started = time.monotonic()

    async def steps(ex: Exchange) -> tuple[list[int], list[int]]:
        sent = words
        if spec.bit is not None:
            (current,) = await ex.read(unit, spec.table, spec.address, 1)
            mask = encode_point(spec, 1.0)[0]
            sent = [(current & ~mask & 0xFFFF) | words[0]]
            if delay_s:
                await asyncio.sleep(delay_s)
        await ex.write(unit, spec.table, spec.address, sent)
        if delay_s:
            await asyncio.sleep(delay_s)
        back = await ex.read(unit, spec.table, spec.address, spec.words)
        return sent, back

    try:
        sent, back = await bus.exchange(steps, priority=priority)
    except DriverError as err:
        return WriteOutcome(
            point, value, False, _fault_reason(err), tuple(words),
            duration_s=time.monotonic() - started,
        )  # fmt: skip
    read_back, _, _ = decode_point(spec, back[: spec.words])
    elapsed = time.monotonic() - started
    if not _matches(spec, sent, back):
        return WriteOutcome(
            point, value, False,
            f"read back {read_back:g} (registers {back}) after writing {value:g} "
            f"(registers {sent})",
            tuple(sent), read_back, elapsed,
        )  # fmt: skip
    return WriteOutcome(point, value, True, None, tuple(sent), read_back, elapsed)


def _fault_reason(err: DriverError) -> str:
    """A short reason with the device's own words where there are some."""
    detail = str(err)
    return err.reason if not detail or detail == err.reason else f"{err.reason}: {detail}"


async def read_point(
    bus: BusLine, unit: int, profile: Profile, point: str, *, priority: int = URGENT
) -> PointValue:
    """One point read now, ahead of queued polls (an interlock checked at the moment of
    acting, a write settled after a restart). Faults are data, as in a poll."""
    spec = profile.point(point)

    async def one(ex: Exchange) -> list[int]:
        return await ex.read(unit, spec.table, spec.address, spec.words)

    try:
        words = await bus.exchange(one, priority=priority)
    except DriverError as err:
        return PointValue(point, NAN, "bad", err.reason)
    value, quality, reason = decode_point(spec, words)
    return PointValue(point, value, quality, reason)
