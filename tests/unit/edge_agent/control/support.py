"""A control server with test handlers (echo, boom, refuse, slow, nan) and a counting
stream, and a raw client for bytes the real client would never send."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from edge_agent.control.protocol import MethodError, Params
from edge_agent.control.server import ControlServer


async def echo(params: Params) -> Any:
    return {"echo": params}


async def _boom(params: Params) -> Any:
    raise ZeroDivisionError("division by zero")


async def _refuse(params: Params) -> Any:
    raise MethodError("no point 'pt-9/pressure' (see `edge-agent status`)")


async def _slow(params: Params) -> Any:
    await asyncio.sleep(5)
    return None


async def _nan(params: Params) -> Any:
    return {"value": float("nan"), "values": [1.5, float("inf")]}


class Counter:
    """A stream of numbers that records whether it was closed."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    async def run(self, params: Params) -> AsyncGenerator[Any, None]:
        try:
            for i in range(int(params.get("n", 3))):
                yield {"i": i}
                if params.get("forever"):
                    await asyncio.sleep(0.01)
            if params.get("fail"):
                raise MethodError("bus rs485-1 is gone")
            if params.get("quiet"):
                await asyncio.Event().wait()  # a tail on a point nobody polls
            while params.get("forever"):
                yield {"i": -1}
                await asyncio.sleep(0.01)
        finally:
            self.closed.set()


def server(path: Path, counter: Counter | None = None) -> ControlServer:
    counter = counter or Counter()
    return ControlServer(
        path,
        {"echo": echo, "boom": _boom, "refuse": _refuse, "slow": _slow, "nan": _nan},
        {"count": counter.run},
    )


async def raw_exchange(path: Path, data: bytes, n: int = 1) -> list[dict[str, Any]]:
    """Send raw bytes; read `n` reply lines, or fewer if the server closes or goes quiet."""
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(data)
    await writer.drain()
    replies: list[dict[str, Any]] = []
    try:
        while len(replies) < n:
            async with asyncio.timeout(2):
                line = await reader.readline()
            if not line:
                break
            replies.append(json.loads(line))
    except TimeoutError:
        pass
    writer.close()
    return replies
