"""Shapes shared by every driver: tables, read requests, point values, the Bus protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol, Self

# The four Modbus data tables. Coils and discrete inputs are single bits.
Table = Literal["holding", "input", "coil", "discrete"]
TABLES: tuple[Table, ...] = ("holding", "input", "coil", "discrete")
BIT_TABLES: frozenset[str] = frozenset({"coil", "discrete"})

Quality = Literal["good", "bad", "uncertain"]

# Protocol limits of one read (Modbus application protocol v1.1b3, §6.1-6.4).
MAX_REGISTERS_PER_READ = 125
MAX_BITS_PER_READ = 2000


def rtu_frame_gap_s(baudrate: int, bits_per_char: int = 11) -> float:
    """The Modbus RTU silent interval between frames: 3.5 characters, fixed at 1.75 ms
    above 19200 baud (Modbus over serial line v1.02, §2.5.1.1).

    11 bits per character is start + 8 data + parity (or a second stop bit) + stop.
    """
    if baudrate > 19200:
        return 0.00175
    return 3.5 * bits_per_char / baudrate


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One read transaction: `count` registers (or bits) from `address` of `table`.

    `points` names the profile points whose words lie inside the span, in address order.
    """

    table: Table
    address: int
    count: int
    points: tuple[str, ...]

    @property
    def end(self) -> int:
        """First address after the span."""
        return self.address + self.count


@dataclass(frozen=True, slots=True)
class PointValue:
    """One decoded value. A fault is data: NaN with quality "bad" and a short reason."""

    name: str
    value: float
    quality: Quality
    reason: str | None = None


class Bus(Protocol):
    """A field bus: open with `async with`, then one `read` at a time.

    `read` returns registers (0..65535) for holding/input tables, and 0/1 per bit for
    coil/discrete tables. Faults raise a `drivers.errors.DriverError` leaf.
    """

    name: str

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def read(self, unit: int, table: Table, address: int, count: int) -> list[int]: ...


class WritableBus(Bus, Protocol):
    """A bus that can also write: registers (0..65535) to `holding`, 0/1 to `coil`."""

    async def write(self, unit: int, table: Table, address: int, values: Sequence[int]) -> None: ...
