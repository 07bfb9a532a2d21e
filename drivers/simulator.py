"""Simulated Modbus devices on real pymodbus servers, for the demo and the tests.

A `SimulatedDevice` is one unit: a firmware profile plus a signal per point (a function
of seconds since start). Its registers are computed through `encode_point` each time
a request arrives, so every answer carries the value of that moment. Fault switches
make a device behave like field hardware does: `silent` (never answers), `exception_code`
(answers every read with that Modbus exception), `delay_s` (answers late), and
`frame_fault` ("bad-crc" or "short": the answer leaves the server damaged).

`SimServer` serves devices on 127.0.0.1 over Modbus TCP, RTU over TCP, or RTU on a
serial port (one end of a pseudo-terminal pair), and can be stopped and started again
on the same address, which is how tests make a device vanish and come back.

pymodbus 3.16 deprecates its old datastore (ModbusDeviceContext...) and its SimDevice
action hook cannot keep a unit silent or slow per request. The server accepts any
`ModbusServerContext` whose `old_simulator` flag is set and then only calls
`async_getValues`/`async_setValues`/`device_ids` on it, so `_SimContext` implements
exactly those, with no deprecation noise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.pdu.mei_message import ReadDeviceInformationResponse
from pymodbus.server import ModbusBaseServer, ModbusSerialServer, ModbusTcpServer

from drivers.base import BIT_TABLES, Table
from drivers.decode import encode_point
from drivers.identify import OBJECT_NAMES
from drivers.profiles import PointSpec, Profile

log = logging.getLogger(__name__)

Signal = Callable[[float], float]
FrameFault = Literal["bad-crc", "short"]
ServerKind = Literal["tcp", "rtu-over-tcp", "rtu"]

_FC_TABLE: dict[int, Table] = {
    1: "coil",
    5: "coil",
    15: "coil",
    2: "discrete",
    3: "holding",
    6: "holding",
    16: "holding",
    22: "holding",
    23: "holding",
    4: "input",
}


def _default_value(spec: PointSpec) -> float:
    if spec.range is not None:
        return (spec.range[0] + spec.range[1]) / 2
    return 0.0


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
        self.requests = 0  # requests that reached this unit, answered or not
        self._memory: dict[Table, dict[int, int]] = {t: {} for t in _TABLES}
        self._mapped: dict[Table, set[int]] = {t: set() for t in _TABLES}
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
        sig = self.signals.get(point)
        if sig is None:
            return _default_value(self.profile.point(point))
        return sig(t) if callable(sig) else float(sig)

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
        for i, v in enumerate(values):
            self._raw[(table, address + i)] = int(v) & 0xFFFF
        return None


_TABLES: tuple[Table, ...] = ("holding", "input", "coil", "discrete")


class _SimContext(ModbusServerContext):
    """The datastore pymodbus calls for each request, routed to simulated devices."""

    def __init__(self, devices: Mapping[int, SimulatedDevice]) -> None:
        # No super().__init__(): it only wraps the deprecated datastore classes.
        self.old_simulator = True
        self.simdevices = []
        self.sims = dict(devices)

    def _device(self, device_id: int) -> SimulatedDevice:
        dev = self.sims.get(device_id)
        if dev is not None:
            dev.requests += 1
        if dev is None or dev.silent:
            # With ignore_missing_devices the server then sends nothing, as an absent
            # or dead unit on a real line does.
            raise NoSuchIdException(f"unit {device_id} does not answer")
        return dev

    async def async_getValues(  # noqa: N802 - pymodbus's name
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        dev = self._device(device_id)
        if dev.delay_s:
            await asyncio.sleep(dev.delay_s)
        table = _FC_TABLE.get(func_code)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        got = dev.answer(table, address, count)
        if isinstance(got, ExcCodes) or table not in BIT_TABLES:
            return got
        return [bool(v) for v in got]

    async def async_setValues(  # noqa: N802 - pymodbus's name
        self,
        device_id: int,
        func_code: int,
        address: int,
        values: Sequence[int] | Sequence[bool],
    ) -> ExcCodes | None:
        dev = self._device(device_id)
        table = _FC_TABLE.get(func_code)
        if table is None or table not in ("holding", "coil"):
            return ExcCodes.ILLEGAL_FUNCTION
        return dev.write(table, address, [int(v) for v in values])

    def device_ids(self) -> list[int]:
        return list(self.sims)


class SimServer:
    """A real pymodbus server for simulated devices, on loopback or a serial port.

    kind "tcp" and "rtu-over-tcp" listen on `host:port` (port 0 picks a free port,
    kept across stop/start); kind "rtu" serves the serial device `serial_port`.
    """

    def __init__(
        self,
        devices: Sequence[SimulatedDevice],
        *,
        kind: ServerKind = "tcp",
        host: str = "127.0.0.1",
        port: int = 0,
        serial_port: str = "",
        baudrate: int = 9600,
        parity: str = "N",
        stopbits: int = 1,
        bytesize: int = 8,
    ) -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("the simulator serves loopback only")
        units = [d.unit for d in devices]
        if len(set(units)) != len(units):
            raise ValueError(f"duplicate units in {units}")
        self.devices = {d.unit: d for d in devices}
        self.kind = kind
        self.host = host
        self.port = port
        self.serial_port = serial_port
        self.serial: dict[str, Any] = {
            "baudrate": baudrate,
            "parity": parity,
            "stopbits": stopbits,
            "bytesize": bytesize,
        }
        self._server: ModbusBaseServer | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def _damage(self, sending: bool, data: bytes) -> bytes:
        """trace_packet hook: silence silent units, damage answers of faulty ones."""
        if not sending or len(data) < 4:
            return data
        unit = data[0] if self.kind != "tcp" else (data[6] if len(data) > 6 else -1)
        dev = self.devices.get(unit)
        if dev is not None and dev.silent:
            return b""  # covers answers the datastore does not see (0x2B)
        if dev is None or dev.frame_fault is None:
            return data
        if dev.frame_fault == "bad-crc":
            return data[:-1] + bytes([data[-1] ^ 0xFF])
        return data[: len(data) // 2]

    def _identify(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        """trace_pdu hook: each device answers 0x2B with its own objects, or exception 1.

        pymodbus keeps one identity per process; simulated lines need one per unit.
        """
        if not sending or not isinstance(pdu, ReadDeviceInformationResponse):
            return pdu
        dev = self.devices.get(pdu.dev_id)
        if dev is None or dev.identity is None:
            return ExceptionResponse(
                0x2B,
                ExcCodes.ILLEGAL_FUNCTION,
                device_id=pdu.dev_id,
                transaction=pdu.transaction_id,
            )
        wanted = range(3) if pdu.read_code == 1 else range(7)
        ids = {name: i for i, name in OBJECT_NAMES.items()}
        info = {
            ids[k]: v.encode() for k, v in dev.identity.items() if k in ids and ids[k] in wanted
        }
        return ReadDeviceInformationResponse(
            read_code=pdu.read_code,
            information=dict(sorted(info.items())),
            dev_id=pdu.dev_id,
            transaction_id=pdu.transaction_id,
        )

    async def start(self) -> int:
        """Start serving; returns the TCP port (0 for a serial server)."""
        if self._server is not None:
            raise RuntimeError("simulator already running")
        context = _SimContext(self.devices)
        server: ModbusBaseServer
        if self.kind == "rtu":
            server = ModbusSerialServer(
                context,
                framer=FramerType.RTU,
                port=self.serial_port,
                ignore_missing_devices=True,
                trace_packet=self._damage,
                trace_pdu=self._identify,
                **self.serial,
            )
        else:
            framer = FramerType.RTU if self.kind == "rtu-over-tcp" else FramerType.SOCKET
            server = ModbusTcpServer(
                context,
                framer=framer,
                address=(self.host, self.port),
                ignore_missing_devices=True,
                trace_packet=self._damage,
                trace_pdu=self._identify,
            )
        await server.serve_forever(background=True)
        self._server = server
        if self.kind != "rtu":
            sockets = getattr(server.transport, "sockets", None) or []
            if sockets:
                self.port = int(sockets[0].getsockname()[1])
        log.debug("simulator serving kind=%s port=%s", self.kind, self.port or self.serial_port)
        return self.port

    async def stop(self) -> None:
        """Stop serving and drop every client connection."""
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]
            # Let the transports close before anyone reuses the port.
            await asyncio.sleep(0)


@asynccontextmanager
async def serve_tcp(
    devices: Sequence[SimulatedDevice],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    framer: Literal["socket", "rtu"] = "socket",
) -> AsyncIterator[int]:
    """Serve `devices` on `host:port` (0: a free port) and yield the port.

    framer "rtu" makes an RTU-over-TCP device server (serial gateways).
    """
    server = SimServer(
        devices, kind="rtu-over-tcp" if framer == "rtu" else "tcp", host=host, port=port
    )
    bound = await server.start()
    try:
        yield bound
    finally:
        await server.stop()


def sine(mean: float, amplitude: float, period_s: float) -> Signal:
    """A smooth signal for demos: mean + amplitude * sin(2 pi t / period)."""
    return lambda t: mean + amplitude * math.sin(2 * math.pi * t / period_s)


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
            sig = self.signals.get(p.name)
            value = _default_value(p) if sig is None else sig(t) if callable(sig) else float(sig)
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
        import serial

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
