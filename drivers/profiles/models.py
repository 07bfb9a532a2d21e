"""Firmware profile models: the pydantic schema of `firmware_profiles/*.toml`.

A profile is one sensor model's register map: where each point lives, how its words
decode, the sensor's valid range, and the quirks a planner must respect. Checks that
span several points (duplicate names, forbidden ranges, references between points)
live in `Profile`'s validator; `drivers.profiles.loader` reads the files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from drivers.base import BIT_TABLES, MAX_BITS_PER_READ, MAX_REGISTERS_PER_READ, Table
from drivers.settings import Baudrate, ByteSize, Parity, StopBits

ProfileId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
PointName = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", min_length=1, max_length=64)
]
Quantity = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Address = Annotated[int, Field(ge=0, le=65535)]
UnitId = Annotated[int, Field(ge=0, le=247)]

PointType = Literal["int16", "uint16", "int32", "uint32", "int64", "float32", "float64", "bool"]
ByteOrder = Literal["ABCD", "DCBA", "BADC", "CDAB", "AB", "BA"]

# Registers (16-bit words) each type occupies.
WORDS: dict[str, int] = {
    "int16": 1,
    "uint16": 1,
    "bool": 1,
    "int32": 2,
    "uint32": 2,
    "float32": 2,
    "int64": 4,
    "float64": 4,
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SerialDefaults(_Model):
    """Factory serial settings of the device, for RTU buses and `scan`."""

    baudrate: Baudrate = 9600
    parity: Parity = "N"
    stopbits: StopBits = 1
    bytesize: ByteSize = 8


class AddressRange(_Model):
    """Addresses `start..end` (inclusive) that must never be read; all tables unless named."""

    start: Address
    end: Address
    table: Table | None = None

    @model_validator(mode="after")
    def _ordered(self) -> AddressRange:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) must be >= start ({self.start})")
        return self

    def hits(self, table: Table, start: int, end: int) -> bool:
        """Does the half-open span [start, end) of `table` touch this range?"""
        if self.table is not None and self.table != table:
            return False
        return start <= self.end and end > self.start


class Quirks(_Model):
    """What a device accepts beyond the protocol's limits."""

    # Largest read the device answers (registers / bits); the protocol allows 125 / 2000.
    max_registers_per_read: Annotated[int, Field(ge=1, le=MAX_REGISTERS_PER_READ)] = (
        MAX_REGISTERS_PER_READ
    )
    max_bits_per_read: Annotated[int, Field(ge=1, le=MAX_BITS_PER_READ)] = MAX_BITS_PER_READ
    # Unmapped registers the planner may read over to merge two requests into one.
    max_gap: Annotated[int, Field(ge=0, le=MAX_REGISTERS_PER_READ)] = 8
    # Addresses that answer "illegal address" (or worse) when read.
    forbidden: list[AddressRange] = Field(default_factory=list)
    # Some devices need one request per point (telegraf#12071).
    one_request_per_point: bool = False
    # Quiet time the device needs before each request, on top of the bus's frame gap.
    request_delay_s: Annotated[float, Field(ge=0, le=5)] = 0.0

    def read_limit(self, table: Table) -> int:
        """Largest read of `table` the device answers: bits or registers."""
        return self.max_bits_per_read if table in BIT_TABLES else self.max_registers_per_read


class ValidIf(_Model):
    """A status point that must hold one of `values` for this point's reading to count."""

    point: PointName
    values: Annotated[list[float], Field(min_length=1)]
    reason: str = "device status says the value is not valid"


class PointSpec(_Model):
    """One value of a device: where it lives and how its words become a number."""

    name: PointName
    quantity: Quantity
    unit: str = ""
    table: Table = "holding"
    # Required for Modbus profiles (checked by Profile); unused by line profiles.
    address: Address = 0
    type: PointType = "uint16"
    # One bit (0 = least significant) of a register: the value is 0 or 1.
    bit: Annotated[int, Field(ge=0, le=15)] | None = None
    byte_order: ByteOrder = "ABCD"
    scale: float = 1.0
    offset: float = 0.0
    # The sensor's valid range (after scale and offset); outside it a reading is bad.
    range: tuple[float, float] | None = None
    # Raw values the device sends for "no value" (checked before scale and offset).
    sentinels: list[float] = Field(default_factory=list)
    # A running total (rain since power-up, a totaliser): readings report how much it
    # grew since the previous poll, and a restart of the device's count is not a drop.
    counter: bool = False
    # Another point holding the number of decimal places (0..6) of this one: the raw
    # value is divided by 10**decimals before scale and offset (PTMB transmitters).
    decimals_from: PointName | None = None
    # Quality from a status point (empty pipe, warm-up, calibration mode).
    valid_if: ValidIf | None = None
    # Line profiles: the regex group name, or the 0-based index of the split field.
    field: str | None = None
    # An actuator or set point the gateway may write (coil: FC5/FC15, holding: FC6/FC16),
    # and the values a write may carry (after scale and offset, as read); others are refused.
    writable: bool = False
    write_range: tuple[float, float] | None = None
    description: str = ""

    @property
    def words(self) -> int:
        """Registers (or bits, for coil/discrete) this point occupies."""
        return 1 if self.table in BIT_TABLES else WORDS[self.type]

    @property
    def end(self) -> int:
        return self.address + self.words

    @model_validator(mode="after")
    def _consistent(self) -> PointSpec:
        if self.table in BIT_TABLES:
            if self.type != "bool":
                raise ValueError(f'a {self.table} point has type "bool" (got "{self.type}")')
            if self.bit is not None:
                raise ValueError(f"bit is for points in register tables, not {self.table}")
        elif self.type == "bool" and self.bit is None:
            raise ValueError('type "bool" in a register table needs bit = 0..15')
        if self.bit is not None and self.type not in ("bool", "int16", "uint16"):
            raise ValueError(f'bit goes with type "bool", "uint16" or "int16", not "{self.type}"')
        if self.byte_order in ("AB", "BA") and WORDS[self.type] != 1:
            raise ValueError(
                f'byte_order "{self.byte_order}" is for 16-bit types; '
                f"{self.type} takes ABCD, DCBA, BADC or CDAB"
            )
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError(f"range must be [low, high] with low < high (got {list(self.range)})")
        return self._write_fits()

    def _write_fits(self) -> PointSpec:
        if self.write_range is not None:
            if not self.writable:
                raise ValueError("write_range is for writable points (writable = true)")
            if not self.write_range[0] <= self.write_range[1]:
                raise ValueError(
                    f"write_range must be [low, high] with low <= high "
                    f"(got {list(self.write_range)})"
                )
        if self.writable:
            if self.table not in ("coil", "holding"):
                raise ValueError(
                    f"{self.table} points cannot be written: Modbus writes coils and "
                    "holding registers only"
                )
            if self.decimals_from is not None:
                raise ValueError("a writable point cannot take its decimals from another point")
        return self


class Fingerprint(_Model):
    """A point whose value pins the model (vendor/product id registers)."""

    point: PointName
    equals: float


class IdentifyMatch(_Model):
    """How `scan --identify` recognises this model.

    `vendor` and `product` are regular expressions matched (case-insensitive) against
    Modbus Read Device Identification objects (VendorName; ProductCode, ProductName or
    ModelName). `registers` serves devices without 0x2B: every listed point must read
    its value.
    """

    vendor: str | None = None
    product: str | None = None
    registers: list[Fingerprint] = Field(default_factory=list)


class LineFormat(_Model):
    """How a sensor that prints ASCII lines is read (protocol = "line").

    Either `pattern`, a regular expression whose named groups are the points'
    `field`s, or `separator` (None: runs of whitespace) splitting the line into
    fields numbered from 0. With `request` the sensor is polled ("{unit}" in it is
    replaced, e.g. "#{unit:02d}RD\r"); without, it streams and the newest line wins.
    """

    pattern: str | None = None
    separator: str | None = None
    request: str | None = None
    terminator: Literal["\n", "\r", "\r\n"] = "\n"
    encoding: Literal["ascii", "utf-8", "latin-1"] = "ascii"
    # Streaming: a line older than this counts as no line at all.
    max_age_s: Annotated[float, Field(gt=0, le=3600)] = 5.0

    @model_validator(mode="after")
    def _pattern_compiles(self) -> LineFormat:
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as err:
                raise ValueError(f"pattern is not a valid regular expression: {err}") from err
        if self.request is not None:
            try:
                self.request.format(unit=1)
            except (KeyError, IndexError, ValueError) as err:
                raise ValueError(
                    f"request may only use {{unit}} (e.g. {{unit:02d}}): {err}"
                ) from err
        return self


class Profile(_Model):
    """A firmware profile: one sensor model (and firmware range) and its register map."""

    id: ProfileId
    manufacturer: str
    model: str
    source: Annotated[str, Field(min_length=1)]
    firmware: str = ""
    description: str = ""
    serial: SerialDefaults = SerialDefaults()
    default_unit: UnitId | None = None
    quirks: Quirks = Quirks()
    identify: IdentifyMatch | None = None
    # "modbus": registers on a Modbus bus; "line": ASCII lines on a serial-line bus.
    protocol: Literal["modbus", "line"] = "modbus"
    line: LineFormat | None = None
    points: Annotated[list[PointSpec], Field(min_length=1)]

    # Where the profile was read from (not part of the file's schema).
    _path: Path | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        return self._path

    def _line_points_fit(self) -> Profile:
        if self.line is None:
            raise ValueError('line: required for protocol = "line" (pattern or separator)')
        groups = set(re.compile(self.line.pattern).groupindex) if self.line.pattern else None
        seen: set[str] = set()
        for i, p in enumerate(self.points):
            if p.name in seen:
                raise ValueError(f"points[{i}].name: duplicate point name {p.name!r}")
            seen.add(p.name)
            if p.field is None:
                raise ValueError(f"points[{i}].field: required key is missing")
            if groups is not None and p.field not in groups:
                raise ValueError(
                    f"points[{i}].field: {p.field!r} is not a named group of line.pattern "
                    f"(groups: {', '.join(sorted(groups)) or 'none'})"
                )
            if groups is None and not p.field.isdigit():
                raise ValueError(
                    f"points[{i}].field: without line.pattern a field is a 0-based index"
                )
            if p.decimals_from is not None or p.valid_if is not None or p.bit is not None:
                raise ValueError(f"points[{i}]: decimals_from, valid_if and bit are for Modbus")
            if p.writable:
                raise ValueError(f"points[{i}].writable: an ASCII line sensor cannot be written")
        return self

    def point(self, name: str) -> PointSpec:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(f"profile {self.id!r} has no point {name!r}")

    @model_validator(mode="after")
    def _points_fit(self) -> Profile:
        if self.protocol == "line":
            return self._line_points_fit()
        if self.line is not None:
            raise ValueError('line: only for protocol = "line"')
        for i, p in enumerate(self.points):
            if "address" not in p.model_fields_set:
                raise ValueError(f"points[{i}].address: required key is missing")
            if p.field is not None:
                raise ValueError(f'points[{i}].field: only for protocol = "line"')
        seen: set[str] = set()
        q = self.quirks
        for i, p in enumerate(self.points):
            where = f"points[{i}]"
            if p.name in seen:
                raise ValueError(f"{where}.name: duplicate point name {p.name!r}")
            seen.add(p.name)
            limit = q.read_limit(p.table)
            if p.words > limit:
                raise ValueError(
                    f"{where}: a {p.type} needs {p.words} registers but "
                    f"quirks.max_registers_per_read is {limit}"
                )
            for r in q.forbidden:
                if r.hits(p.table, p.address, p.end):
                    raise ValueError(
                        f"{where}.address: {p.table} {p.address}..{p.end - 1} lies in "
                        f"quirks.forbidden {r.start}..{r.end}"
                    )
        by_name = {p.name: p for p in self.points}
        for i, p in enumerate(self.points):
            refs = [("decimals_from", p.decimals_from)]
            if p.valid_if is not None:
                refs.append(("valid_if.point", p.valid_if.point))
            for key, ref in refs:
                if ref is None:
                    continue
                target = by_name.get(ref)
                if target is None or ref == p.name:
                    raise ValueError(
                        f"points[{i}].{key}: names no other point of this profile ({ref!r}; "
                        f"points: {', '.join(by_name)})"
                    )
                if target.decimals_from is not None or target.valid_if is not None:
                    raise ValueError(
                        f"points[{i}].{key}: {ref!r} depends on another point itself; "
                        "one level of dependency only"
                    )
        return self._identify_fits(by_name)

    def _identify_fits(self, by_name: dict[str, PointSpec]) -> Profile:
        if self.identify is not None:
            for i, fp in enumerate(self.identify.registers):
                if fp.point not in by_name:
                    raise ValueError(f"identify.registers[{i}].point: no point named {fp.point!r}")
        return self
