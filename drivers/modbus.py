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

Every answer is matched to its request before a value is taken from it (pymodbus
checks little of this: any function code decodes, a transaction id or unit of 0 passes,
bytes after a frame's declared data are ignored): the same unit, the same function
code (or its exception), on TCP the same transaction id, exactly the length the request
asks for, and its bytes exactly the frame of what was decoded with nothing after it
(nor before it on RTU over TCP; on TCP only frames skipped for another transaction id,
on a serial line at most 3 bytes of line noise). An RTU frame has no transaction id, so on RTU lines
(serial or over TCP) an answer must also be followed by silence (`settle_s`): a late or
duplicated answer, which would otherwise become the next request's reading, makes the
exchange fail instead; and after any failure, or any byte that arrives while no request
is out, the line is drained (quiet for `drain_s`) before the next request.

pymodbus waits with `asyncio.wait_for`, which on Python 3.11 swallows a cancellation
that lands in the same loop turn as the answer. `_transact` re-raises it, or a stopping
agent's poller would go on polling forever.
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
from pymodbus.pdu import ExceptionResponse, ModbusPDU

from drivers.base import BIT_TABLES, Table, rtu_frame_gap_s
from drivers.errors import BusClosed, BusTimeout, DeviceException, FrameError, exception_name
from drivers.settings import ModbusRtuBusConfig, ModbusRtuOverTcpBusConfig, ModbusTcpBusConfig

log = logging.getLogger(__name__)

ModbusBusConfig = ModbusTcpBusConfig | ModbusRtuOverTcpBusConfig | ModbusRtuBusConfig

# Timeouts in a row, with no good answer between, after which a TCP link is re-opened.
TIMEOUTS_BEFORE_RECONNECT = 3
_READ_CALLS = {
    "holding": "read_holding_registers",
    "input": "read_input_registers",
    "coil": "read_coils",
    "discrete": "read_discrete_inputs",
}
# pymodbus closes the link after retries+3 unanswered requests unless told otherwise.
_NEVER = 1 << 30
# RTU over TCP: how long an answer must be followed by silence. RTU lines: the line must
# be quiet for the bus timeout before a request after a failure or a stray byte (tried
# up to _DRAIN_MAX times while bytes keep coming).
SETTLE_S = 0.02
_DRAIN_MAX = 5
# Bytes of line noise tolerated before an RTU answer on a serial line (less than the
# shortest frame, so never a whole earlier answer); none on TCP.
_RTU_NOISE_BYTES = 3


def cancel_pending() -> bool:
    """Whether this task was asked to stop and the request swallowed it (see module doc)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


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
        self.rtu = isinstance(cfg, ModbusRtuBusConfig) or cfg.kind == "modbus-rtu-over-tcp"
        # Arrivals of bytes: during the current attempt (a timeout with bytes is a bad
        # frame, not silence), and in all (a stray byte between requests shows here).
        self._rx_bytes = 0
        self._arrivals = 0
        self._rx_buffer = b""  # what the framer was last handed
        self._asked: ModbusPDU | None = None  # the request on the line
        self._answer_raw = b""  # the bytes the answer was decoded from
        self._dirty = False  # drain before the next request
        self._idle_mark = 0  # arrivals when the last exchange ended
        # On a serial line a byte within 3.5 characters of a frame belongs to it; over
        # TCP the serial side's timing is unknown, so wait a little longer.
        self.settle_s = (
            rtu_frame_gap_s(cfg.baudrate) if isinstance(cfg, ModbusRtuBusConfig) else SETTLE_S
        )
        self.drain_s = max(cfg.timeout_s, SETTLE_S)

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self._rx_bytes += len(data)
            self._arrivals += 1
            self._rx_buffer = data
        return data

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if sending:
            self._asked = pdu
        else:
            self._answer_raw = self._rx_buffer
        return pdu

    def _make_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        quiet_pymodbus()
        cfg = self.cfg
        common: dict[str, Any] = {
            "timeout": cfg.timeout_s,
            "retries": 0,  # retries are ours, each one under our own deadline
            "reconnect_delay": 0,  # no background reconnect task: we reconnect on demand
            "name": cfg.name,
            "trace_packet": self._trace,
            "trace_pdu": self._trace_pdu,
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
        call = _READ_CALLS[table]
        rr = await self._with_retries(
            at, lambda c: getattr(c, call)(address, count=count, device_id=unit), exact=True
        )
        if table in BIT_TABLES:
            got = len(rr.bits)
            if got != 8 * ((count + 7) // 8):
                raise FrameError(f"{at}: answer has {got} bits, expected {count}")
            return [int(b) for b in rr.bits[:count]]
        values = list(rr.registers)
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

    async def read_within(
        self, unit: int, table: Table, address: int, count: int, timeout_s: float
    ) -> list[int]:
        """One attempt at a read that waits `timeout_s` for the answer instead of the bus's
        timeout_s (`scan --timeout-each`). The caller holds the line, so changing the
        client's answer timeout for this request affects no other."""
        assert self._client is not None, "use `async with` to open the bus"
        params = self._client.ctx.comm_params
        saved, params.timeout_connect = params.timeout_connect, timeout_s
        try:
            call = _READ_CALLS[table]
            rr = await self._transact(
                f"bus {self.name} unit {unit} {table} {address}+{count}",
                lambda c: getattr(c, call)(address, count=count, device_id=unit),
                exact=True,
                timeout_s=timeout_s,
            )
        finally:
            params.timeout_connect = saved
        values = [int(b) for b in rr.bits[:count]] if table in BIT_TABLES else list(rr.registers)
        if len(values) != count:
            raise FrameError(f"bus {self.name} unit {unit}: {len(values)} values, expected {count}")
        return values

    async def _with_retries(
        self, at: str, call: Callable[[Any], Awaitable[Any]], *, exact: bool = False
    ) -> Any:
        attempts = self.cfg.retries + 1
        timed_out = False
        for attempt in range(1, attempts + 1):
            try:
                return await self._transact(at, call, exact=exact)
            except BusTimeout:
                timed_out = True
                if attempt == attempts:
                    raise
            except FrameError as err:
                if attempt == attempts:
                    if timed_out:
                        # The bytes that spoiled this attempt are most likely the late
                        # answer to the previous one: a slow device, not a noisy line.
                        raise BusTimeout(
                            f"{at}: no answer within {self.cfg.timeout_s} s; bytes arrived "
                            "after the timeout (a slow device: raise the bus's timeout_s)"
                        ) from err
                    raise
            log.debug("retry %s attempt=%d", at, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _transact(
        self,
        at: str,
        call: Callable[[Any], Awaitable[Any]],
        *,
        exact: bool = False,
        timeout_s: float | None = None,
    ) -> Any:
        """One request and its answer, with pymodbus's failure channels mapped to ours,
        and the answer matched to the request (see the module doc). `timeout_s`: wait
        this long for the answer instead of the bus's timeout_s."""
        try:
            rr = await self._exchange(at, call, timeout_s)
            self._match(at, rr, exact)
            if self.rtu:
                await self._settle(at)
        except BaseException:
            self._dirty = True
            raise
        finally:
            self._idle_mark = self._arrivals
        self._timeouts_in_row = 0
        if rr.isError():
            code = int(rr.exception_code) if isinstance(rr, ExceptionResponse) else 0
            raise DeviceException(
                code, f"{at}: device answered exception code {code} ({exception_name(code)})"
            )
        return rr

    async def _exchange(
        self, at: str, call: Callable[[Any], Awaitable[Any]], timeout_s: float | None = None
    ) -> Any:
        if self._client is None:
            raise BusClosed(f"bus {self.name}: not open")
        if not self._client.connected:
            await self._connect()
            if cancel_pending():
                raise asyncio.CancelledError
        if self.rtu:
            await self._drain()
        self._rx_bytes = 0
        self._asked = None
        self._answer_raw = b""
        wait_s = self.cfg.timeout_s if timeout_s is None else timeout_s
        try:
            # pymodbus has its own timeout of the same length; ours bounds everything else.
            async with asyncio.timeout(wait_s + 0.5):
                rr = await call(self._client)
        except (TimeoutError, ModbusIOException) as err:
            if self._rx_bytes:
                raise FrameError(
                    f"{at}: {self._rx_bytes} byte(s) arrived but no valid frame "
                    "(bad CRC, cut short or garbled)"
                ) from err
            self._timed_out()
            raise BusTimeout(f"{at}: no answer within {wait_s} s") from err
        except ConnectionException as err:
            raise BusClosed(f"{at}: link down ({err})") from err
        except ModbusException as err:
            raise FrameError(f"{at}: bad answer ({err})") from err
        if cancel_pending():
            raise asyncio.CancelledError  # stopped while the answer came: stop, do not poll on
        return rr

    def _match(self, at: str, rr: ModbusPDU, exact: bool) -> None:
        """Refuse an answer that is not the answer to the request on the line."""
        asked = self._asked
        if asked is None:
            raise FrameError(f"{at}: an answer without a request")
        if rr.dev_id != asked.dev_id:
            raise FrameError(f"{at}: answer from unit {rr.dev_id}, asked unit {asked.dev_id}")
        if rr.function_code & 0x7F != asked.function_code:
            raise FrameError(
                f"{at}: answer to function {rr.function_code & 0x7F}, "
                f"asked function {asked.function_code}"
            )
        if not self.rtu and rr.transaction_id != asked.transaction_id:
            raise FrameError(
                f"{at}: answer to transaction {rr.transaction_id}, "
                f"asked transaction {asked.transaction_id}"
            )
        if not (exact or rr.isError()):
            return
        assert self._client is not None
        frame = self._client.ctx.framer.buildFrame(rr)
        raw = self._answer_raw
        noise = _RTU_NOISE_BYTES if isinstance(self.cfg, ModbusRtuBusConfig) else 0
        if not raw.endswith(frame):
            raise FrameError(
                f"{at}: answer of {len(raw)} byte(s) is not the {len(frame)}-byte frame it "
                "declares (bytes after its data, or a second answer)"
            )
        if self.rtu and len(raw) - len(frame) > noise:
            raise FrameError(f"{at}: {len(raw) - len(frame)} byte(s) before the answer")

    async def _settle(self, at: str) -> None:
        """RTU: the answer must be followed by silence, or it may not be ours."""
        mark = self._arrivals
        await asyncio.sleep(self.settle_s)
        if self._arrivals != mark:
            raise FrameError(f"{at}: more bytes after the answer (late or duplicated answer)")

    async def _drain(self) -> None:
        """RTU: after a failure or a stray byte, wait for a quiet line before a request."""
        if not self._dirty and self._arrivals == self._idle_mark:
            return
        for _ in range(_DRAIN_MAX):
            mark = self._arrivals
            await asyncio.sleep(self.drain_s)
            if self._arrivals == mark:
                break
        log.debug("line drained bus=%s", self.name)
        self._dirty = False

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
