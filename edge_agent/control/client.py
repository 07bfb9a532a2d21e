"""The CLI's side of the control socket: one call, or a stream of items."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from typing import Any

from edge_agent.control.protocol import ControlError, Params, encode, parse_reply, request

# Replies can be much larger than requests: a status of a gateway with many devices.
CLIENT_LINE_BYTES = 16 * 1024 * 1024


class NoAgentError(ControlError):
    """Nothing listens on the control socket."""


async def _connect(
    paths: Sequence[Path],
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the first path that answers; NoAgentError names what was tried."""
    tried: list[str] = []
    for p in paths:
        try:
            return await asyncio.open_unix_connection(p, limit=CLIENT_LINE_BYTES)
        except FileNotFoundError:
            tried.append(str(p))
        except ConnectionRefusedError:
            tried.append(f"{p} (connection refused: a stale socket?)")
        except PermissionError as err:
            raise ControlError(
                f"permission denied on {p}: join the group that owns it "
                f"(usually edge-agent) or use sudo ({err.strerror})"
            ) from err
        except OSError as err:
            if err.errno not in (errno.ENOTSOCK, errno.ECONNREFUSED, errno.ENOENT):
                raise ControlError(f"cannot connect to {p}: {err.strerror}") from err
            tried.append(f"{p} ({err.strerror})")
    raise NoAgentError(f"no agent running: cannot connect to {' or '.join(tried)}")


def _as_paths(path: Path | Sequence[Path]) -> list[Path]:
    return [path] if isinstance(path, Path) else list(path)


async def _read_reply(reader: asyncio.StreamReader, rid: int) -> dict[str, Any]:
    try:
        line = await reader.readline()
    except (ValueError, asyncio.LimitOverrunError) as err:
        raise ControlError(f"the agent's reply is longer than {CLIENT_LINE_BYTES} bytes") from err
    if not line:
        raise ControlError("the agent closed the control connection without replying")
    return parse_reply(line, rid)


async def call(
    path: Path | Sequence[Path],
    method: str,
    params: Params | None = None,
    timeout_s: float = 10.0,
) -> Any:
    """Send one request and return its `result`; ControlError on any failure."""
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await _connect(_as_paths(path))
            try:
                writer.write(encode(request(1, method, params)))
                await writer.drain()
                return (await _read_reply(reader, 1)).get("result")
            finally:
                writer.close()
    except TimeoutError as err:
        raise ControlError(f"the agent did not answer {method!r} within {timeout_s:g} s") from err
    except (ConnectionError, BrokenPipeError) as err:
        raise ControlError(f"lost the control connection during {method!r}: {err}") from err


async def stream(
    path: Path | Sequence[Path],
    method: str,
    params: Params | None = None,
    connect_timeout_s: float = 5.0,
) -> AsyncGenerator[Any, None]:
    """Yield each item of a streaming method, then its final result (if not null)."""
    try:
        async with asyncio.timeout(connect_timeout_s):
            reader, writer = await _connect(_as_paths(path))
    except TimeoutError as err:
        raise ControlError(f"could not connect within {connect_timeout_s:g} s") from err
    try:
        writer.write(encode(request(1, method, params)))
        await writer.drain()
        while True:
            reply = await _read_reply(reader, 1)
            if not reply.get("more"):
                if reply.get("result") is not None:
                    yield reply["result"]
                return
            yield reply.get("result")
    except (ConnectionError, BrokenPipeError) as err:
        raise ControlError(f"lost the control connection during {method!r}: {err}") from err
    finally:
        writer.close()


def call_sync(
    path: Path | Sequence[Path],
    method: str,
    params: Params | None = None,
    timeout_s: float = 10.0,
) -> Any:
    """`call` for the CLI, which has no event loop of its own."""
    return asyncio.run(call(path, method, params, timeout_s))
