"""ASCII serial-line sensors: devices that print a line of text per reading.

`SerialLineBus` owns one serial port (pyserial, read without blocking the loop through
`add_reader`). Streaming sensors print on their own; the bus keeps the newest complete
line. Polled sensors get the profile's `line.request` and the next line is theirs.
`parse_line` turns a line into point values through the profile's `line` format.
Like the Modbus buses, a port that vanishes is reopened on demand by later reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from types import TracebackType
from typing import Any, Self

import serial

from drivers.base import PointValue, Table
from drivers.decode import NAN, decode_text
from drivers.errors import BusClosed, BusTimeout, DeviceException
from drivers.profiles import Profile
from drivers.settings import SerialLineBusConfig

log = logging.getLogger(__name__)

# Longest line kept; a sensor that never sends the terminator must not fill memory.
MAX_LINE = 1024
_TERMINATORS = {"\n": b"\n", "\r": b"\r", "\r\n": b"\r\n"}


def split_fields(profile: Profile, line: str) -> dict[str, str | None] | None:
    """The text of each point's field, or None when the line does not match at all."""
    fmt = profile.line
    assert fmt is not None, "a line profile has a line format"
    if fmt.pattern is not None:
        m = re.search(fmt.pattern, line)
        if m is None:
            return None
        return {p.name: m.group(p.field) for p in profile.points if p.field}
    parts = line.split(fmt.separator) if fmt.separator else line.split()
    return {
        p.name: parts[int(p.field)] if p.field and int(p.field) < len(parts) else None
        for p in profile.points
    }


def parse_line(profile: Profile, line: str) -> list[PointValue]:
    """Point values from one line of text; a line that does not match makes all bad."""
    fields = split_fields(profile, line)
    if fields is None:
        return [
            PointValue(p.name, NAN, "bad", "decode error: line does not match")
            for p in profile.points
        ]
    out = []
    for p in profile.points:
        value, quality, reason = decode_text(p, fields.get(p.name))
        out.append(PointValue(p.name, value, quality, reason))
    return out


class SerialLineBus:
    """One serial port with ASCII line sensors on it."""

    def __init__(self, cfg: SerialLineBusConfig) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self._ser: Any = None
        self._buf = b""
        self._terminator = b"\n"
        self._latest: tuple[str, float] | None = None  # (line, monotonic time)
        self._new_line = asyncio.Event()
        self._down_logged = False

    async def __aenter__(self) -> Self:
        try:
            self._open()
        except BusClosed as err:
            log.debug("bus not reachable at start bus=%s reason=%s", self.name, err)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _open(self) -> None:
        if self._ser is not None:
            return
        cfg = self.cfg
        try:
            ser = serial.serial_for_url(
                cfg.port,
                baudrate=cfg.baudrate,
                bytesize=cfg.bytesize,
                parity=cfg.parity,
                stopbits=cfg.stopbits,
                timeout=0,
                write_timeout=0,
                exclusive=True,
            )
        except (serial.SerialException, OSError, ValueError) as err:
            if not self._down_logged:
                log.warning("bus down bus=%s at=%s", self.name, cfg.port)
                self._down_logged = True
            raise BusClosed(f"bus {self.name}: cannot open {cfg.port} ({err})") from err
        self._ser = ser
        self._buf = b""
        self._latest = None
        asyncio.get_running_loop().add_reader(ser.fileno(), self._readable)
        if self._down_logged:
            log.info("bus up bus=%s at=%s", self.name, cfg.port)
            self._down_logged = False

    def close(self) -> None:
        ser, self._ser = self._ser, None
        if ser is None:
            return
        # The loop may be closed already, or the fd gone with the port.
        with contextlib.suppress(RuntimeError, ValueError, OSError):
            asyncio.get_running_loop().remove_reader(ser.fileno())
        with contextlib.suppress(serial.SerialException, OSError):
            ser.close()
        self._new_line.set()  # wake readers: the port is gone

    def _readable(self) -> None:
        try:
            data = self._ser.read(4096) if self._ser is not None else b""
            if not data:
                # select said readable but nothing came: the device end is gone (EOF).
                raise serial.SerialException("port closed by the other end")
        except (serial.SerialException, OSError) as err:
            log.debug("serial read failed bus=%s: %s", self.name, err)
            self.close()
            return
        self._buf += data
        while self._terminator in self._buf:
            raw, self._buf = self._buf.split(self._terminator, 1)
            text = raw.decode("latin-1").strip("\r\n")
            if text:
                self._latest = (text, time.monotonic())
                self._new_line.set()
        if len(self._buf) > MAX_LINE:
            self._buf = b""

    async def read(self, unit: int, table: Table, address: int, count: int) -> list[int]:
        raise DeviceException(1, f"bus {self.name}: a serial-line bus has no registers")

    async def read_line(self, unit: int, profile: Profile) -> str:
        """The sensor's current line: polled with the profile's request, or the newest
        streamed line not older than `line.max_age_s`. Raises BusTimeout, BusClosed."""
        fmt = profile.line
        if fmt is None:
            raise DeviceException(1, f"bus {self.name}: profile {profile.id} is not a line profile")
        self._open()
        self._terminator = _TERMINATORS[fmt.terminator]
        now = time.monotonic()
        if fmt.request is None and self._latest and now - self._latest[1] <= fmt.max_age_s:
            return self._latest[0]
        if fmt.request is not None:
            self._latest = None
            self._buf = b""
            try:
                self._ser.write(fmt.request.format(unit=unit).encode(fmt.encoding))
            except (serial.SerialException, OSError) as err:
                self.close()
                raise BusClosed(f"bus {self.name}: write failed ({err})") from err
        self._new_line.clear()
        try:
            async with asyncio.timeout(self.cfg.timeout_s):
                while self._latest is None or (
                    fmt.request is None and time.monotonic() - self._latest[1] > fmt.max_age_s
                ):
                    await self._new_line.wait()
                    self._new_line.clear()
                    if self._ser is None:
                        raise BusClosed(f"bus {self.name}: {self.cfg.port} went away")
        except TimeoutError as err:
            raise BusTimeout(
                f"bus {self.name} unit {unit}: no line within {self.cfg.timeout_s} s"
            ) from err
        return self._latest[0]
