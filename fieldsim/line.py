"""Simulated ASCII line sensors on one end of a serial link (a pty from `PtyPair`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

import serial

from drivers.profiles import Profile
from fieldsim.signals import Signal, signal_value


class LineSensor:
    """A simulated ASCII sensor: prints `template` filled with raw point values.

    `template` uses point names as format fields and gets raw numbers, before scale
    and offset: "R{distance:04.0f}" for a MaxBotix. With a polled profile the sensor
    answers its request (for `unit`); otherwise it streams every `period_s`.
    """

    def __init__(
        self,
        profile: Profile,
        template: str,
        signals: Mapping[str, Signal | float] | None = None,
        *,
        unit: int = 1,
        period_s: float = 0.1,
    ) -> None:
        if profile.line is None:
            raise ValueError(f"profile {profile.id} is not a line profile")
        self.profile = profile
        self.template = template
        self.signals: dict[str, Signal | float] = dict(signals or {})
        self.unit = unit
        self.period_s = period_s
        self.t0 = time.monotonic()
        self.silent = False
        self.garbage = False  # prints lines that match no pattern
        self.lines = 0

    def render(self) -> bytes:
        assert self.profile.line is not None
        t = time.monotonic() - self.t0
        raw: dict[str, float] = {}
        for p in self.profile.points:
            value = signal_value(p, self.signals.get(p.name), t)
            raw[p.name] = (value - p.offset) / p.scale
        text = "#?garbled*&" if self.garbage else self.template.format(**raw)
        return (text + self.profile.line.terminator).encode(self.profile.line.encoding)


class LineSimServer:
    """Serves line sensors on one end of a serial link (a pty from `PtyPair`)."""

    def __init__(self, sensors: Sequence[LineSensor], serial_port: str, baudrate: int = 9600):
        self.sensors = list(sensors)
        self.serial_port = serial_port
        self.baudrate = baudrate
        self._ser: Any = None
        self._task: asyncio.Task[None] | None = None
        self._inbox = b""

    async def start(self) -> None:
        self._ser = serial.serial_for_url(
            self.serial_port, baudrate=self.baudrate, timeout=0, write_timeout=0
        )
        asyncio.get_running_loop().add_reader(self._ser.fileno(), self._readable)
        self._task = asyncio.create_task(self._stream())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._ser is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._ser.fileno())
            self._ser.close()
            self._ser = None

    def _send(self, sensor: LineSensor) -> None:
        if self._ser is None or sensor.silent:
            return
        with contextlib.suppress(OSError):
            self._ser.write(sensor.render())
            sensor.lines += 1

    async def _stream(self) -> None:
        streaming = [s for s in self.sensors if s.profile.line and s.profile.line.request is None]
        next_due = {id(s): time.monotonic() for s in streaming}
        while True:
            now = time.monotonic()
            for s in streaming:
                if now >= next_due[id(s)]:
                    self._send(s)
                    next_due[id(s)] = now + s.period_s
            await asyncio.sleep(0.01)

    def _readable(self) -> None:
        try:
            data = self._ser.read(1024)
        except OSError:
            return
        self._inbox = (self._inbox + data)[-256:]
        for s in self.sensors:
            fmt = s.profile.line
            if fmt is None or fmt.request is None:
                continue
            request = fmt.request.format(unit=s.unit).encode(fmt.encoding)
            if request in self._inbox:
                self._inbox = self._inbox.split(request, 1)[1]
                self._send(s)
