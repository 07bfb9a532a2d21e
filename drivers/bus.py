"""Bus factory and line discipline: one transaction at a time, quiet time between frames.

`open_bus(cfg)` returns a `BusLine` around the transport of the bus's kind. A serial
RS-485 line is half-duplex and a Modbus TCP gateway usually forwards to one, so every
kind gets the same discipline: a lock (one request on the line at a time) and the
inter-frame delay the line needs (for RTU at least 3.5 character times).
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import Self

from drivers.base import Bus, Table
from drivers.errors import BusTimeout, DeviceException
from drivers.profiles import Profile
from drivers.settings import BusConfig, ModbusRtuBusConfig

# Bits per character on an RTU line: start + 8 data + parity or second stop + stop.
_BITS_PER_CHAR = 11


def min_frame_gap_s(cfg: BusConfig) -> float:
    """The Modbus RTU silent interval: 3.5 characters, fixed at 1.75 ms above 19200 baud."""
    if not isinstance(cfg, ModbusRtuBusConfig):
        return 0.0
    if cfg.baudrate > 19200:
        return 0.00175
    return 3.5 * _BITS_PER_CHAR / cfg.baudrate


class BusLine:
    """Serialises transactions on one bus and keeps the quiet time between them."""

    def __init__(self, inner: Bus, inter_frame_delay_s: float = 0.0) -> None:
        self.name = inner.name
        self.inner = inner
        self.inter_frame_delay_s = inter_frame_delay_s
        self._lock = asyncio.Lock()
        self._last_end = 0.0  # monotonic time the last transaction finished
        # Counters for `health`: transactions done and bus time spent, by outcome.
        self.transactions = 0
        self.failures = 0
        self.busy_s = 0.0
        # Poll deadlines missed because the line was too busy (pollers add to it).
        self.overruns = 0
        self.timeouts = 0

    def stats(self) -> dict[str, float | int]:
        """Counters for the `health` message: transactions, failures, busy time, overruns."""
        return {
            "transactions": self.transactions,
            "failures": self.failures,
            "timeouts": self.timeouts,
            "busy_s": round(self.busy_s, 3),
            "overruns": self.overruns,
        }

    async def __aenter__(self) -> Self:
        await self.inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.inner.__aexit__(exc_type, exc, tb)

    async def read(self, unit: int, table: Table, address: int, count: int) -> list[int]:
        async with self._lock:
            wait_s = self._last_end + self.inter_frame_delay_s - time.monotonic()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            start = time.monotonic()
            try:
                result = await self.inner.read(unit, table, address, count)
            except BaseException as err:
                self.failures += 1
                if isinstance(err, BusTimeout):
                    self.timeouts += 1
                raise
            finally:
                self._last_end = time.monotonic()
                self.transactions += 1
                self.busy_s += self._last_end - start
            return result

    async def read_line(self, unit: int, profile: Profile) -> str:
        """The current line of an ASCII sensor, when the transport is a serial line."""
        reader = getattr(self.inner, "read_line", None)
        if reader is None:
            raise DeviceException(
                1, f"bus {self.name}: profile {profile.id} needs a serial-line bus"
            )
        async with self._lock:
            wait_s = self._last_end + self.inter_frame_delay_s - time.monotonic()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            start = time.monotonic()
            try:
                line: str = await reader(unit, profile)
                return line
            except BaseException as err:
                self.failures += 1
                if isinstance(err, BusTimeout):
                    self.timeouts += 1
                raise
            finally:
                self._last_end = time.monotonic()
                self.transactions += 1
                self.busy_s += self._last_end - start

    async def read_identification(
        self, unit: int, read_code: int = 1, object_id: int = 0
    ) -> tuple[dict[int, bytes], int]:
        """Read Device Identification on the line, when the transport supports it."""
        ident = getattr(self.inner, "read_identification", None)
        if ident is None:
            raise DeviceException(1, f"bus {self.name}: no device identification on this bus")
        async with self._lock:
            wait_s = self._last_end + self.inter_frame_delay_s - time.monotonic()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            try:
                result: tuple[dict[int, bytes], int] = await ident(unit, read_code, object_id)
                return result
            finally:
                self._last_end = time.monotonic()


def open_bus(cfg: BusConfig) -> BusLine:
    """The bus a `[[buses]]` entry describes, not yet open: use it with `async with`."""
    from drivers.modbus import ModbusBus  # keeps pymodbus out of pure imports

    inner: Bus
    if cfg.kind == "serial-line":
        from drivers.serial_line import SerialLineBus

        inner = SerialLineBus(cfg)
    else:
        inner = ModbusBus(cfg)
    return BusLine(inner, max(cfg.inter_frame_delay_s, min_frame_gap_s(cfg)))
