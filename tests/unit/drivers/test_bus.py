"""BusLine: one transaction at a time, the quiet time between frames, counters, turns."""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import Self

import pytest

from drivers.base import Table
from drivers.bus import POLL, URGENT, BusLine, LineQueue, min_frame_gap_s
from drivers.errors import BusTimeout, DeviceException
from drivers.profiles import load_profiles
from drivers.settings import ModbusRtuBusConfig, ModbusTcpBusConfig


class FakeBus:
    """A transport that answers after `delay_s`, or raises `fault`, and logs each call."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.name = "fake-1"
        self.delay_s = delay_s
        self.fault: Exception | None = None
        self.calls: list[tuple[str, int]] = []
        self.active = 0
        self.most_active = 0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def _answer(self, what: str, unit: int) -> None:
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            self.calls.append((what, unit))
            await asyncio.sleep(self.delay_s)
            if self.fault is not None:
                raise self.fault
        finally:
            self.active -= 1

    async def read(self, unit: int, table: Table, address: int, count: int) -> list[int]:
        await self._answer("read", unit)
        return [unit] * count

    async def read_identification(
        self, unit: int, read_code: int = 1, object_id: int = 0
    ) -> tuple[dict[int, bytes], int]:
        await self._answer("identify", unit)
        return {0: b"ACME"}, 0


async def test_one_transaction_at_a_time_in_arrival_order() -> None:
    fake = FakeBus(delay_s=0.01)
    line = BusLine(fake)
    got = await asyncio.gather(*(line.read(u, "holding", 0, 2) for u in range(1, 6)))
    assert got == [[u, u] for u in range(1, 6)]
    assert fake.calls == [("read", u) for u in range(1, 6)]
    assert fake.most_active == 1


async def test_counters_count_outcomes_and_bus_time() -> None:
    fake = FakeBus(delay_s=0.02)
    line = BusLine(fake)
    await line.read(1, "holding", 0, 1)
    fake.fault = BusTimeout("no answer")
    with pytest.raises(BusTimeout):
        await line.read(2, "holding", 0, 1)
    fake.fault = DeviceException(2, "illegal address")
    with pytest.raises(DeviceException):
        await line.read(3, "holding", 0, 1)
    stats = line.stats()
    assert (stats["transactions"], stats["failures"], stats["timeouts"]) == (3, 2, 1)
    assert stats["busy_s"] >= 0.05
    assert stats["overruns"] == 0


async def test_identification_keeps_the_gap_but_is_not_counted() -> None:
    fake = FakeBus()
    line = BusLine(fake, inter_frame_delay_s=0.05)
    await line.read(1, "holding", 0, 1)
    started = time.monotonic()
    assert await line.read_identification(1) == ({0: b"ACME"}, 0)
    assert time.monotonic() - started >= 0.045
    assert line.transactions == 1


async def test_inter_frame_delay_is_kept_between_transactions() -> None:
    line = BusLine(FakeBus(), inter_frame_delay_s=0.03)
    started = time.monotonic()
    for unit in range(4):
        await line.read(unit, "holding", 0, 1)
    assert time.monotonic() - started >= 3 * 0.03 * 0.95  # three gaps between four reads


async def test_read_line_on_a_modbus_transport_is_a_device_exception() -> None:
    line = BusLine(FakeBus())
    profile = load_profiles([])["maxbotix-hrxl-serial"]
    with pytest.raises(DeviceException, match="needs a serial-line bus"):
        await line.read_line(1, profile)
    assert line.transactions == 0


async def test_urgent_turn_goes_ahead_of_queued_polls_not_the_one_on_the_line() -> None:
    fake = FakeBus(delay_s=0.02)
    line = BusLine(fake)
    polls = [asyncio.create_task(line.read(u, "holding", 0, 1)) for u in (1, 2, 3)]
    await asyncio.sleep(0.005)  # unit 1 is on the line, 2 and 3 wait
    urgent = asyncio.create_task(
        line._transact(lambda: fake.read(9, "holding", 0, 1), priority=URGENT)
    )
    await asyncio.gather(*polls, urgent)
    assert [u for _, u in fake.calls] == [1, 9, 2, 3]
    assert fake.most_active == 1


async def test_line_queue_is_fifo_within_a_priority() -> None:
    queue = LineQueue()
    order: list[str] = []

    async def take(name: str, priority: int) -> None:
        await queue.acquire(priority)
        order.append(name)
        await asyncio.sleep(0)
        queue.release()

    await queue.acquire()
    tasks = [
        asyncio.create_task(take(n, p))
        for n, p in (("poll-a", POLL), ("urgent-a", URGENT), ("poll-b", POLL), ("urgent-b", URGENT))
    ]
    await asyncio.sleep(0)
    queue.release()
    await asyncio.gather(*tasks)
    assert order == ["urgent-a", "urgent-b", "poll-a", "poll-b"]


async def test_cancelled_waiter_leaves_the_queue() -> None:
    queue = LineQueue()
    await queue.acquire()
    waiter = asyncio.create_task(queue.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    queue.release()
    async with asyncio.timeout(1):
        await queue.acquire()  # free again: nobody holds a turn they cannot use


async def test_waiter_cancelled_after_its_turn_came_passes_the_line_on() -> None:
    queue = LineQueue()
    await queue.acquire()
    first = asyncio.create_task(queue.acquire())
    second = asyncio.create_task(queue.acquire())
    await asyncio.sleep(0)
    queue.release()  # hands the line to `first` ...
    first.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    async with asyncio.timeout(1):
        await second
    queue.release()
    async with asyncio.timeout(1):
        await queue.acquire()


async def test_cancelled_transaction_frees_the_line() -> None:
    fake = FakeBus(delay_s=1.0)
    line = BusLine(fake)
    slow = asyncio.create_task(line.read(1, "holding", 0, 1))
    await asyncio.sleep(0.01)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    fake.delay_s = 0.0
    async with asyncio.timeout(1):
        assert await line.read(2, "holding", 0, 1) == [2]
    assert (line.transactions, line.failures) == (2, 1)


def test_rtu_frame_gap_is_three_and_a_half_characters() -> None:
    slow = ModbusRtuBusConfig(kind="modbus-rtu", name="rs485-1", port="/dev/null", baudrate=9600)
    fast = slow.model_copy(update={"baudrate": 115200})
    tcp = ModbusTcpBusConfig(kind="modbus-tcp", name="tcp-1", host="127.0.0.1")
    assert min_frame_gap_s(slow) == pytest.approx(3.5 * 11 / 9600)
    assert min_frame_gap_s(fast) == 0.00175
    assert min_frame_gap_s(tcp) == 0.0
