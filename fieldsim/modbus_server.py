"""Simulated Modbus devices on real pymodbus servers, for the demo and the tests.

`SimServer` serves `SimulatedDevice`s on 127.0.0.1 over Modbus TCP, RTU over TCP, or
RTU on a serial port (one end of a pseudo-terminal pair), and can be stopped and started
again on the same address, which is how tests make a device vanish and come back.

pymodbus 3.16 deprecates its old datastore (ModbusDeviceContext...) and its SimDevice
action hook cannot keep a unit silent or slow per request. The server accepts any
`ModbusServerContext` whose `old_simulator` flag is set and then only calls
`async_getValues`/`async_setValues`/`device_ids` on it, so `_SimContext` implements
exactly those, with no deprecation noise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
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
from drivers.identify import OBJECT_NAMES
from fieldsim.modbus_device import SimulatedDevice

log = logging.getLogger(__name__)

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
        delay_s = dev.delay_s + dev.take_stall()
        if delay_s:
            await asyncio.sleep(delay_s)
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
