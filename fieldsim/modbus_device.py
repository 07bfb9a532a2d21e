"""A simulated Modbus unit: a firmware profile, a signal per point, and fault switches.

A `SimulatedDevice` computes its registers through `encode_point` each time a request
arrives, so every answer carries the value of that moment. Fault switches make it behave
like field hardware does: `silent` (never answers), `exception_code` (answers every read
with that Modbus exception), `delay_s` (answers late), `frame_fault` ("bad-crc" or
"short": the answer leaves the server damaged) and `ignore_writes` (acknowledges a write
and keeps its value). A write pins the registers it sets over the signals.
`fieldsim.modbus_server` serves it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Literal

from pymodbus.constants import ExcCodes

from drivers.base import TABLES, Table
from drivers.decode import encode_point
from drivers.profiles import Profile
from fieldsim.signals import Signal, signal_value

log = logging.getLogger(__name__)

FrameFault = Literal["bad-crc", "short"]


class SimulatedDevice:
    """One Modbus unit speaking a firmware profile, with fault switches for tests."""

    def __init__(
        self,
        unit: int,
        profile: Profile,
        signals: Mapping[str, Signal | float] | None = None,
        *,
        strict: bool = False,
        identity: Mapping[str, str] | None = None,
    ) -> None:
        self.unit = unit
        self.profile = profile
        self.signals: dict[str, Signal | float] = dict(signals or {})
        unknown = set(self.signals) - {p.name for p in profile.points}
        if unknown:
            raise ValueError(f"profile {profile.id} has no point(s) {sorted(unknown)}")
        # strict: unmapped addresses answer "illegal address" like picky real devices;
        # otherwise they read 0. Forbidden ranges of the profile always answer code 2.
        self.strict = strict
        # Read Device Identification objects by name (VendorName, ProductCode, ...);
        # None: the device answers 0x2B with exception 1, like most field sensors.
        self.identity = dict(identity) if identity is not None else None
        self.t0 = time.monotonic()
        self.silent = False
        self.exception_code: int | None = None
        self.delay_s = 0.0
        self.frame_fault: FrameFault | None = None
        # Acknowledges writes but keeps its values (a drive in local/hand mode, a relay
        # module with a stuck contact): the write's read-back must catch it.
        self.ignore_writes = False
        # The first read after a write waits this long (a gateway killed while it
        # waits for the read-back of its write: tests of crash recovery).
        self.stall_after_write_s = 0.0
        self._stall_s = 0.0
        self.written = asyncio.Event()  # set on the first accepted write
        self.writes: list[tuple[Table, int, tuple[int, ...]]] = []  # accepted, in order
        self.requests = 0  # requests that reached this unit, answered or not
        self._memory: dict[Table, dict[int, int]] = {t: {} for t in TABLES}
        self._mapped: dict[Table, set[int]] = {t: set() for t in TABLES}
        for p in profile.points:
            self._mapped[p.table].update(range(p.address, p.end))
        self._raw: dict[tuple[Table, int], int] = {}
        self.refresh()

    def set_signal(self, point: str, signal: Signal | float) -> None:
        self.profile.point(point)  # KeyError names the profile and point
        self.signals[point] = signal

    def set_raw(self, table: Table, address: int, words: Sequence[int]) -> None:
        """Pin raw registers (NaN patterns, sentinels) over whatever the signals say."""
        for i, w in enumerate(words):
            self._raw[(table, address + i)] = w & 0xFFFF

    def clear_raw(self) -> None:
        self._raw.clear()

    def value_at(self, point: str, t: float) -> float:
        return signal_value(self.profile.point(point), self.signals.get(point), t)

    def refresh(self, t: float | None = None) -> None:
        """Recompute every register from the signals at `t` seconds since start."""
        t = time.monotonic() - self.t0 if t is None else t
        values = {p.name: self.value_at(p.name, t) for p in self.profile.points}
        bits_cleared: set[tuple[Table, int]] = set()
        for p in self.profile.points:
            decimals = values[p.decimals_from] if p.decimals_from is not None else None
            try:
                words = encode_point(p, values[p.name], decimals=decimals)
            except ValueError:
                log.debug("simulated value does not fit point=%s value=%r", p.name, values[p.name])
                continue
            mem = self._memory[p.table]
            if p.bit is not None:
                # Several points share the register: merge this point's bit into it.
                if (p.table, p.address) not in bits_cleared:
                    mem[p.address] = 0
                    bits_cleared.add((p.table, p.address))
                mask = encode_point(p, 1.0)[0]
                mem[p.address] = (mem.get(p.address, 0) & ~mask) | words[0]
                continue
            for i, w in enumerate(words):
                mem[p.address + i] = w
        for (table, address), w in self._raw.items():
            self._memory[table][address] = w

    def take_stall(self) -> float:
        """Seconds the next read must wait (once after a write), then none."""
        stall, self._stall_s = self._stall_s, 0.0
        return stall

    def answer(self, table: Table, address: int, count: int) -> list[int] | ExcCodes:
        """What the device sends for a read: values now, or an exception code."""
        if self.exception_code is not None:
            return ExcCodes(self.exception_code)
        end = address + count
        for r in self.profile.quirks.forbidden:
            if r.hits(table, address, end):
                return ExcCodes.ILLEGAL_ADDRESS
        if self.strict and not all(a in self._mapped[table] for a in range(address, end)):
            return ExcCodes.ILLEGAL_ADDRESS
        self.refresh()
        mem = self._memory[table]
        return [mem.get(a, 0) for a in range(address, end)]

    def write(self, table: Table, address: int, values: Sequence[int]) -> ExcCodes | None:
        if self.exception_code is not None:
            return ExcCodes(self.exception_code)
        self.writes.append((table, address, tuple(int(v) for v in values)))
        self._stall_s = self.stall_after_write_s
        self.written.set()
        if self.ignore_writes:
            return None
        for i, v in enumerate(values):
            self._raw[(table, address + i)] = int(v) & 0xFFFF
        return None
