"""A Modbus device that answers wrongly on purpose, over TCP or RTU over TCP.

pymodbus's server always answers correctly and at once; a field device behind a
flaky serial gateway does not. `MisbehavingDevice` is a small real server on loopback
that reads holding (FC3) and input (FC4) registers of one unit, and answers request
number n (from 0, in arrival order) as `faults[n % len(faults)]` says:

- "good": the right answer, after `answer_delay_s`;
- "wrong-fc": an FC4 answer (from the input registers) to an FC3 request, or the reverse;
- "late": the right answer, `late_s` after the request (after the client gave up);
- "duplicate": the right answer, and the same bytes again half an answer delay later;
- "trailing": the right answer with two bytes more after its frame;
- "padded" (TCP): the MBAP header declares two bytes more than the data, and sends them;
- "tid0" (TCP): the right answer with transaction id 0;
- "other-unit": the right answer under another unit id.

Register `a` of the holding table holds `1000 + a`, of the input table `5000 + a`, so a
value read under the wrong address or table shows. Every request is kept in
`requests` as (n, unit, function, address, count, fault).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from pymodbus.framer import FramerRTU

Fault = Literal["good", "wrong-fc", "late", "duplicate", "trailing", "padded", "tid0", "other-unit"]
HOLDING_BASE = 1000
INPUT_BASE = 5000


def register_value(function: int, address: int) -> int:
    """What a register holds: distinct by table and address."""
    return (HOLDING_BASE if function == 3 else INPUT_BASE) + address


@dataclass
class MisbehavingDevice:
    unit: int
    faults: Sequence[Fault]
    framing: Literal["tcp", "rtu"] = "tcp"
    answer_delay_s: float = 0.02
    late_s: float = 0.3
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[tuple[int, int, int, int, int, Fault]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("the simulator serves loopback only")
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for t in list(self._tasks):
                t.cancel()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> MisbehavingDevice:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                req = await self._read_request(reader)
                if req is None:
                    return
                tid, unit, function, address, count = req
                n = len(self.requests)
                fault = self.faults[n % len(self.faults)]
                self.requests.append((n, unit, function, address, count, fault))
                if unit != self.unit or function not in (3, 4):
                    continue  # nobody answers
                answer = asyncio.create_task(
                    self._answer(writer, tid, unit, function, address, count, fault)
                )
                self._tasks.add(answer)
                answer.add_done_callback(self._tasks.discard)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # the client went away, or stop()
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _read_request(
        self, reader: asyncio.StreamReader
    ) -> tuple[int, int, int, int, int] | None:
        """(tid, unit, function, address, count) of the next FC3/FC4-shaped request."""
        try:
            if self.framing == "tcp":
                head = await reader.readexactly(7)
                tid, _, length, unit = struct.unpack(">HHHB", head)
                pdu = await reader.readexactly(length - 1)
            else:
                frame = await reader.readexactly(8)  # unit, fc, address, count, crc
                tid, unit, pdu = 0, frame[0], frame[1:6]
        except asyncio.IncompleteReadError:
            return None
        function = pdu[0]
        address, count = struct.unpack(">HH", pdu[1:5])
        return tid, unit, function, address, count

    def _frame(self, tid: int, unit: int, pdu: bytes, pad: bytes = b"") -> bytes:
        if self.framing == "tcp":
            return struct.pack(">HHHB", tid, 0, len(pdu) + len(pad) + 1, unit) + pdu + pad
        body = bytes([unit]) + pdu
        return body + FramerRTU.compute_CRC(body).to_bytes(2, "big")

    async def _answer(
        self,
        writer: asyncio.StreamWriter,
        tid: int,
        unit: int,
        function: int,
        address: int,
        count: int,
        fault: Fault,
    ) -> None:
        answer_fc = (7 - function) if fault == "wrong-fc" else function  # 3 <-> 4
        values = [register_value(answer_fc, address + i) & 0xFFFF for i in range(count)]
        pdu = bytes([answer_fc, 2 * count]) + struct.pack(f">{count}H", *values)
        if fault == "tid0":
            tid = 0
        if fault == "other-unit":
            unit = (unit % 247) + 1
        pad = b"\x00\x00" if fault == "padded" and self.framing == "tcp" else b""
        frame = self._frame(tid, unit, pdu, pad)
        if fault == "trailing":
            frame += b"\x00\x00"
        await asyncio.sleep(self.late_s if fault == "late" else self.answer_delay_s)
        try:
            writer.write(frame)
            if fault == "duplicate":
                await writer.drain()
                await asyncio.sleep(self.answer_delay_s / 2)
                writer.write(frame)
            await writer.drain()
        except ConnectionError:
            return
