"""Bus factory and line discipline: one transaction at a time, quiet time between frames.

`open_bus(cfg)` returns a `BusLine` around the transport of the bus's kind. A serial
RS-485 line is half-duplex and a Modbus TCP gateway usually forwards to one, so every
kind gets the same discipline, in one place (`BusLine._transact`): a turn on the line
(one request at a time), the inter-frame delay the line needs (for RTU at least 3.5
character times), and the counters `health` reports.

Turns are first come, first served within a priority: devices waiting for the line take
turns request by request, so a slow device cannot starve the others. A lower priority
value goes first: an operator's request can be queued with `URGENT` to jump ahead of
the polls already waiting (never interrupting the transaction on the line).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Self, TypeVar

from drivers.base import Bus, Table, rtu_frame_gap_s
from drivers.errors import BusTimeout, DeviceException
from drivers.profiles import Profile
from drivers.settings import BusConfig, ModbusRtuBusConfig

T = TypeVar("T")

# Turn priorities on a line: lower goes first.
URGENT = 0  # an operator waiting (a write, a one-off read): ahead of queued polls
POLL = 10  # the poll cycle


def min_frame_gap_s(cfg: BusConfig) -> float:
    """The Modbus RTU silent interval: 3.5 characters, fixed at 1.75 ms above 19200 baud."""
    if not isinstance(cfg, ModbusRtuBusConfig):
        return 0.0
    return rtu_frame_gap_s(cfg.baudrate)


class LineQueue:
    """Who has the line: one holder; waiters served by (priority, arrival).

    With a single priority it is a FIFO lock (as `asyncio.Lock`). `release` hands the
    line straight to the next waiter, so a newcomer never slips in between.
    """

    def __init__(self) -> None:
        self._held = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []  # a heap
        self._arrivals = itertools.count()

    async def acquire(self, priority: int = POLL) -> None:
        if not self._held:  # released with nobody waiting
            self._held = True
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (priority, next(self._arrivals), fut)
        heapq.heappush(self._waiters, entry)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # handed the line, then cancelled: pass it on
            elif entry in self._waiters:  # release() may have dropped it already
                self._waiters.remove(entry)
                heapq.heapify(self._waiters)
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)  # the line passes on: still held
                return
        self._held = False


class BusLine:
    """Serialises transactions on one bus and keeps the quiet time between them."""

    def __init__(self, inner: Bus, inter_frame_delay_s: float = 0.0) -> None:
        self.name = inner.name
        self.inner = inner
        self.inter_frame_delay_s = inter_frame_delay_s
        self._queue = LineQueue()
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

    async def _transact(
        self,
        op: Callable[[], Awaitable[T]],
        *,
        priority: int = POLL,
        counted: bool = True,
    ) -> T:
        """Run one transaction `op()` on the line: every request on this bus goes here.

        Waits for a turn (`priority`: lower first, FIFO within one), then for the quiet
        time after the previous frame, then runs `op` and counts it (transactions,
        failures, timeouts, busy time) unless `counted` is false.
        """
        await self._queue.acquire(priority)
        try:
            wait_s = self._last_end + self.inter_frame_delay_s - time.monotonic()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            start = time.monotonic()
            try:
                return await op()
            except BaseException as err:
                if counted:
                    self.failures += 1
                    if isinstance(err, BusTimeout):
                        self.timeouts += 1
                raise
            finally:
                self._last_end = time.monotonic()
                if counted:
                    self.transactions += 1
                    self.busy_s += self._last_end - start
        finally:
            self._queue.release()

    async def read(
        self, unit: int, table: Table, address: int, count: int, *, priority: int = POLL
    ) -> list[int]:
        return await self._transact(
            lambda: self.inner.read(unit, table, address, count), priority=priority
        )

    async def exchange(
        self, steps: Callable[[Exchange], Awaitable[T]], *, priority: int = URGENT
    ) -> T:
        """Several requests in one turn on the line (a write and its read-back, the read,
        modify and write of one bit), with the quiet time kept between their frames.

        `URGENT` by default: a write goes ahead of the polls waiting for the line.
        """
        return await self._transact(lambda: steps(Exchange(self)), priority=priority)

    async def read_within(
        self, unit: int, table: Table, address: int, count: int, timeout_s: float
    ) -> list[int]:
        """One attempt at a read, waiting `timeout_s` for the answer (a scan's per-unit
        timeout). A transport without its own per-request timeout gets the read bounded
        from outside."""
        within: Callable[[int, Table, int, int, float], Awaitable[list[int]]] | None = getattr(
            self.inner, "read_within", None
        )
        if within is not None:
            return await self._transact(lambda: within(unit, table, address, count, timeout_s))

        async def bounded() -> list[int]:
            try:
                async with asyncio.timeout(timeout_s):
                    return await self.inner.read(unit, table, address, count)
            except TimeoutError as err:
                raise BusTimeout(f"bus {self.name} unit {unit}: no answer within {timeout_s} s"
                                 ) from err  # fmt: skip

        return await self._transact(bounded)

    async def read_line(self, unit: int, profile: Profile) -> str:
        """The current line of an ASCII sensor, when the transport is a serial line."""
        reader: Callable[[int, Profile], Awaitable[str]] | None = getattr(
            self.inner, "read_line", None
        )
        if reader is None:
            raise DeviceException(
                1, f"bus {self.name}: profile {profile.id} needs a serial-line bus"
            )
        return await self._transact(lambda: reader(unit, profile))

    async def read_identification(
        self, unit: int, read_code: int = 1, object_id: int = 0
    ) -> tuple[dict[int, bytes], int]:
        """Read Device Identification on the line, when the transport supports it.

        Takes a turn and keeps the quiet time like any request, but is not counted in
        `stats()` (register reads of `scan` are).
        """
        ident: Callable[[int, int, int], Awaitable[tuple[dict[int, bytes], int]]] | None = getattr(
            self.inner, "read_identification", None
        )
        if ident is None:
            raise DeviceException(1, f"bus {self.name}: no device identification on this bus")
        return await self._transact(lambda: ident(unit, read_code, object_id), counted=False)


class Exchange:
    """The requests of one turn (`BusLine.exchange`): reads and writes on the held line."""

    def __init__(self, line: BusLine) -> None:
        self._line = line
        self._sent = 0

    async def _gap(self) -> None:
        if self._sent and self._line.inter_frame_delay_s:
            await asyncio.sleep(self._line.inter_frame_delay_s)
        self._sent += 1

    async def read(self, unit: int, table: Table, address: int, count: int) -> list[int]:
        await self._gap()
        return await self._line.inner.read(unit, table, address, count)

    async def write(self, unit: int, table: Table, address: int, values: Sequence[int]) -> None:
        writer: Callable[[int, Table, int, Sequence[int]], Awaitable[None]] | None = getattr(
            self._line.inner, "write", None
        )
        if writer is None:
            raise DeviceException(1, f"bus {self._line.name}: this bus cannot write")
        await self._gap()
        await writer(unit, table, address, values)


def open_bus(cfg: BusConfig) -> BusLine:
    """The bus a `[[buses]]` entry describes, not yet open: use it with `async with`."""
    # Transports import here: only the kind in use is loaded, and importing drivers.bus
    # (the CLI does, for commands that never open a bus) does not pay for pymodbus.
    inner: Bus
    if cfg.kind == "serial-line":
        from drivers.serial_line import SerialLineBus

        inner = SerialLineBus(cfg)
    else:
        from drivers.modbus import ModbusBus

        inner = ModbusBus(cfg)
    return BusLine(inner, max(cfg.inter_frame_delay_s, min_frame_gap_s(cfg)))
