"""Modbus client buses over pymodbus: TCP, RTU on a serial port, RTU over TCP.

The only module that imports the pymodbus client. It keeps pymodbus's two failure
channels apart: a transport fault (no answer, link down) becomes `BusTimeout` or
`BusClosed`; an exception reply from the device becomes `DeviceException(code)`.

Connection handling is ours, not pymodbus's: its automatic reconnect task is off
(`reconnect_delay=0`) and every read first connects if the link is down, so a device
or serial port that comes back is used again on the next poll, without a restart
(peers' pain point: thingsboard-gateway#829, device-modbus-go#606). pymodbus's own
"close after N silent requests" is off too: one silent unit behind a gateway must not
cut the others off (emqx/neuron#1602). We close a TCP link only after several timeouts
in a row with no answer from anyone, which is how a half-open connection shows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Self

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.framer import FramerType
from pymodbus.pdu import ExceptionResponse

from drivers.base import BIT_TABLES, Table
from drivers.errors import BusClosed, BusTimeout, DeviceException, FrameError
from drivers.settings import ModbusRtuBusConfig, ModbusRtuOverTcpBusConfig, ModbusTcpBusConfig

log = logging.getLogger(__name__)

ModbusBusConfig = ModbusTcpBusConfig | ModbusRtuOverTcpBusConfig | ModbusRtuBusConfig

# Timeouts in a row, with no good answer between, after which a TCP link is re-opened.
TIMEOUTS_BEFORE_RECONNECT = 3
# pymodbus closes the link after retries+3 unanswered requests unless told otherwise.
_NEVER = 1 << 30


def quiet_pymodbus() -> None:
    """Keep pymodbus's per-request ERROR lines (with frame dumps) out of the log.

    Every fault it logs reaches us as an exception and is logged once per episode by
    the poller. Only applied while nobody configured the "pymodbus" logger, so
    `edge_agent.system.logs` (or a debugging technician) can still turn it up.
    """
    pm = logging.getLogger("pymodbus")
    if pm.level == logging.NOTSET:
        pm.setLevel(logging.CRITICAL)


def where(cfg: ModbusBusConfig) -> str:
    """Where a bus goes, for messages: host:port or the serial device."""
    if isinstance(cfg, ModbusRtuBusConfig):
        return cfg.port
    return f"{cfg.host}:{cfg.port}"


class ModbusBus:
    """One Modbus client link. Not safe for concurrent reads: `bus.BusLine` serialises."""

    def __init__(self, cfg: ModbusBusConfig) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self._timeouts_in_row = 0
        self._down_logged = False
        # Bytes arrived during the current attempt: a timeout with bytes is a bad frame
        # (CRC error, cut short), not silence.
        self._rx_bytes = 0

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self._rx_bytes += len(data)
        return data

    def _make_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        quiet_pymodbus()
        cfg = self.cfg
        common: dict[str, Any] = {
            "timeout": cfg.timeout_s,
            "retries": 0,  # retries are ours, each one under our own deadline
            "reconnect_delay": 0,  # no background reconnect task: we reconnect on demand
            "name": cfg.name,
            "trace_packet": self._trace,
        }
        client: AsyncModbusTcpClient | AsyncModbusSerialClient
        if isinstance(cfg, ModbusRtuBusConfig):
            client = AsyncModbusSerialClient(
                cfg.port,
                framer=FramerType.RTU,
                baudrate=cfg.baudrate,
                bytesize=cfg.bytesize,
                parity=cfg.parity,
                stopbits=cfg.stopbits,
                **common,
            )
        else:
            framer = FramerType.RTU if cfg.kind == "modbus-rtu-over-tcp" else FramerType.SOCKET
            client = AsyncModbusTcpClient(cfg.host, port=cfg.port, framer=framer, **common)
        client.set_max_no_responses(_NEVER)
        return client

    async def __aenter__(self) -> Self:
        self._client = self._make_client()
        try:
            await self._connect()
        except BusClosed as err:
            # Not fatal: the daemon starts anyway and reads retry the connection.
            log.debug("bus not reachable at start bus=%s reason=%s", self.name, err)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    async def _connect(self) -> None:
        assert self._client is not None, "use `async with` to open the bus"
        ok = False
        try:
            async with asyncio.timeout(self.cfg.timeout_s + 1.0):
                ok = await self._client.connect()
        except TimeoutError:
            ok = False
        if not ok:
            msg = f"bus {self.name}: cannot open {where(self.cfg)}"
            if not self._down_logged:
                log.warning("bus down bus=%s at=%s", self.name, where(self.cfg))
                self._down_logged = True
            raise BusClosed(msg)
        if self._down_logged:
            log.info("bus up bus=%s at=%s", self.name, where(self.cfg))
            self._down_logged = False

    async def read(self, unit: int, table: Table, address: int, count: int) -> list[int]:
        """Read `count` registers or bits. Retries timeouts and bad frames `cfg.retries` times."""
        at = f"bus {self.name} unit {unit} {table} {address}+{count}"
        call = {
            "holding": "read_holding_registers",
            "input": "read_input_registers",
            "coil": "read_coils",
            "discrete": "read_discrete_inputs",
        }[table]
        rr = await self._with_retries(
            at, lambda c: getattr(c, call)(address, count=count, device_id=unit)
        )
        values = [int(b) for b in rr.bits[:count]] if table in BIT_TABLES else list(rr.registers)
        if len(values) != count:
            raise FrameError(f"{at}: answer has {len(values)} values, expected {count}")
        return values

    async def write(self, unit: int, table: Table, address: int, values: Sequence[int]) -> None:
        """Write registers (FC6 one, FC16 several) or coils (FC5 one, FC15 several).

        Writing an absolute value is idempotent, so timeouts and bad frames are retried
        like reads. A table that cannot be written raises DeviceException(1).
        """
        at = f"bus {self.name} unit {unit} write {table} {address}+{len(values)}"
        if not values:
            raise ValueError(f"{at}: nothing to write")
        payload: Any
        if table == "coil":
            bits = [bool(v) for v in values]
            name, payload = ("write_coil", bits[0]) if len(bits) == 1 else ("write_coils", bits)
        elif table == "holding":
            words = [v & 0xFFFF for v in values]
            name, payload = (
                ("write_register", words[0]) if len(words) == 1 else ("write_registers", words)
            )
        else:
            raise DeviceException(1, f"{at}: {table} is read-only in Modbus")
        await self._with_retries(at, lambda c: getattr(c, name)(address, payload, device_id=unit))

    async def read_identification(
        self, unit: int, read_code: int = 1, object_id: int = 0
    ) -> tuple[dict[int, bytes], int]:
        """One Read Device Identification (0x2B/0x0E) request: (objects, next object id).

        The next object id is 0 when the device has nothing more to send.
        """
        at = f"bus {self.name} unit {unit} device identification"
        rr = await self._with_retries(
            at,
            lambda c: c.read_device_information(
                read_code=read_code, object_id=object_id, device_id=unit
            ),
        )
        objects = {int(k): bytes(v) for k, v in dict(rr.information).items()}
        more = int(rr.more_follows) != 0
        return objects, int(rr.next_object_id) if more else 0

    async def _with_retries(self, at: str, call: Callable[[Any], Awaitable[Any]]) -> Any:
        attempts = self.cfg.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return await self._transact(at, call)
            except (BusTimeout, FrameError):
                if attempt == attempts:
                    raise
                log.debug("retry %s attempt=%d", at, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _transact(self, at: str, call: Callable[[Any], Awaitable[Any]]) -> Any:
        """One request and its answer, with pymodbus's failure channels mapped to ours."""
        if self._client is None:
            raise BusClosed(f"bus {self.name}: not open")
        if not self._client.connected:
            await self._connect()
        self._rx_bytes = 0
        try:
            # pymodbus has its own timeout of the same length; ours bounds everything else.
            async with asyncio.timeout(self.cfg.timeout_s + 0.5):
                rr = await call(self._client)
        except (TimeoutError, ModbusIOException) as err:
            if self._rx_bytes:
                raise FrameError(
                    f"{at}: {self._rx_bytes} byte(s) arrived but no valid frame "
                    "(bad CRC, cut short or garbled)"
                ) from err
            self._timed_out()
            raise BusTimeout(f"{at}: no answer within {self.cfg.timeout_s} s") from err
        except ConnectionException as err:
            raise BusClosed(f"{at}: link down ({err})") from err
        except ModbusException as err:
            raise FrameError(f"{at}: bad answer ({err})") from err
        self._timeouts_in_row = 0
        if rr.isError():
            code = int(rr.exception_code) if isinstance(rr, ExceptionResponse) else 0
            raise DeviceException(code, f"{at}: device answered exception code {code}")
        return rr

    def _timed_out(self) -> None:
        self._timeouts_in_row += 1
        if (
            not isinstance(self.cfg, ModbusRtuBusConfig)
            and self._timeouts_in_row >= TIMEOUTS_BEFORE_RECONNECT
            and self._client is not None
        ):
            # Nobody on this link answered for a while: the TCP connection may be half
            # open (peer rebooted without FIN). Close it; the next read reconnects.
            log.debug("closing silent link bus=%s", self.name)
            self._client.close()
            self._timeouts_in_row = 0
