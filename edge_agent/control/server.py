"""The daemon's side of the control socket: `ControlServer`.

A unix stream socket (mode 0660) carrying the JSON lines of `protocol`. Bad input
never takes the server down: malformed JSON, an unknown method, wrong params, an
oversized line or a handler that raises all become an error reply. The methods
themselves are the daemon's (`docs/cli.md` lists them).

A handler that raises an `EdgeAgentError` (`MethodError`, the ops layer's `OpError`)
has made a clean refusal: its message goes to the user as is. Any other exception is
a bug: it is logged with its traceback and replied as `internal error in METHOD`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from edge_agent.control.paths import check_socket_path, socket_is_listening
from edge_agent.control.protocol import (
    MAX_LINE_BYTES,
    BadRequestError,
    ControlError,
    Params,
    encode,
    error_reply,
    parse_request,
    result_reply,
    stream_item,
)
from edge_agent.errors import EdgeAgentError

log = logging.getLogger(__name__)

Handler = Callable[[Params], Awaitable[Any]]
StreamHandler = Callable[[Params], AsyncGenerator[Any, None]]

MAX_CLIENTS = 16
# A connection that sends no request for this long is closed: idle clients must not
# hold the MAX_CLIENTS places (a CLI call sends at once; a stream is not idle).
IDLE_TIMEOUT_S = 30.0
SOCKET_MODE = 0o660


class ControlServer:
    """Serves `handlers` (one reply) and `streams` (many) on a unix socket.

    Use as `async with ControlServer(path, handlers, streams):`; the socket file is
    removed on exit. A leftover socket from a killed daemon is replaced; a live one
    (another agent answering) is an error, so two agents never share a bus.
    """

    def __init__(
        self,
        path: Path,
        handlers: Mapping[str, Handler],
        streams: Mapping[str, StreamHandler] | None = None,
        *,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_clients: int = MAX_CLIENTS,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
    ) -> None:
        self.path = path
        self.handlers = dict(handlers)
        self.streams = dict(streams or {})
        clash = set(self.handlers) & set(self.streams)
        if clash:
            raise ValueError(f"methods registered twice: {sorted(clash)}")
        self.handlers.setdefault("methods", self._methods)
        self.max_line_bytes = max_line_bytes
        self.max_clients = max_clients
        self.idle_timeout_s = idle_timeout_s
        self._clients = 0
        self._conns: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None

    async def _methods(self, params: Params) -> list[str]:
        return sorted([*self.handlers, *self.streams])

    async def start(self) -> None:
        check_socket_path(self.path)
        _prepare_socket_path(self.path)
        self._server = await asyncio.start_unix_server(
            self._serve, path=self.path, limit=self.max_line_bytes
        )
        # Group members (technicians) may connect; others may not.
        os.chmod(self.path, SOCKET_MODE)
        log.info("control socket listening path=%s", self.path)

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        # End live connections (a tail never ends by itself) and wait for them, so none
        # is left pending when the loop closes: 3.11's wait_closed() does not wait.
        conns = list(self._conns)
        for task in conns:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await asyncio.gather(*conns, return_exceptions=True)
                await self._server.wait_closed()
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients += 1
        task = asyncio.current_task()
        if task is not None:
            self._conns.add(task)
        try:
            if self._clients > self.max_clients:
                await _send(
                    writer, error_reply(None, f"busy: more than {self.max_clients} clients")
                )
                return
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout_s):
                        line = await reader.readline()
                except TimeoutError:
                    msg = f"no request for {self.idle_timeout_s:g} s: closing the connection"
                    await _send(writer, error_reply(None, msg))
                    return
                except (ValueError, asyncio.LimitOverrunError):
                    # The rest of that line is still coming; no way to find the next request.
                    msg = f"request longer than {self.max_line_bytes} bytes"
                    await _send(writer, error_reply(None, msg))
                    return
                if not line:
                    return
                if line.strip():
                    await self._dispatch(line, reader, writer)
        except (ConnectionError, BrokenPipeError):
            log.debug("control client went away")
        except asyncio.CancelledError:
            # close() cancels live connections; ending quietly here keeps 3.11's
            # start_unix_server callback from logging the cancellation as an error.
            pass
        finally:
            self._clients -= 1
            if task is not None:
                self._conns.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, BrokenPipeError):
                await writer.wait_closed()

    async def _dispatch(
        self, line: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            req = parse_request(line)
        except BadRequestError as err:
            await _send(writer, error_reply(err.rid, str(err)))
            return
        rid, method = req.rid, req.method
        if method in self.streams:
            await self._run_stream(rid, method, req.params, reader, writer)
            return
        handler = self.handlers.get(method)
        if handler is None:
            known = ", ".join(sorted([*self.handlers, *self.streams]))
            await _send(writer, error_reply(rid, f"unknown method {method!r} (known: {known})"))
            return
        try:
            result = await handler(req.params)
        except EdgeAgentError as err:
            await _send(writer, error_reply(rid, str(err)))
            return
        except Exception as err:
            log.exception("control method failed method=%s", method)
            await _send(writer, error_reply(rid, f"internal error in {method}: {_describe(err)}"))
            return
        await _send(writer, result_reply(rid, result))

    async def _run_stream(
        self,
        rid: Any,
        method: str,
        params: Params,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Pump the stream until it ends or the client hangs up. A stream owns its
        connection: a client stops it by closing, and anything it sends meanwhile is
        ignored. Watching for the hang-up matters: a `tail` on a quiet point may not
        write for minutes, and must not hold its subscription that long."""
        pump = asyncio.ensure_future(self._pump(rid, method, params, writer))
        hangup = asyncio.ensure_future(_wait_eof(reader))
        try:
            await asyncio.wait({pump, hangup}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, hangup):
                task.cancel()
            await asyncio.gather(pump, hangup, return_exceptions=True)
        if hangup.done() and not hangup.cancelled():
            raise ConnectionResetError("client closed the connection during a stream")
        exc = None if pump.cancelled() else pump.exception()
        if exc is not None:
            raise exc

    async def _pump(
        self, rid: Any, method: str, params: Params, writer: asyncio.StreamWriter
    ) -> None:
        items = self.streams[method](params)
        try:
            async for item in items:
                await _send(writer, stream_item(rid, item))
        except EdgeAgentError as err:
            await _send(writer, error_reply(rid, str(err)))
            return
        except ConnectionError:
            raise  # the client left: not the stream's fault
        except Exception as err:
            log.exception("control stream failed method=%s", method)
            await _send(writer, error_reply(rid, f"internal error in {method}: {_describe(err)}"))
            return
        finally:
            # Release what the stream holds (a tail subscription) even if the client left.
            await items.aclose()
        await _send(writer, result_reply(rid, None))


async def _wait_eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(4096):
        pass


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


async def _send(writer: asyncio.StreamWriter, message: Mapping[str, Any]) -> None:
    writer.write(encode(message))
    await writer.drain()


def _prepare_socket_path(path: Path) -> None:
    """Make room for the socket: replace a dead agent's leftover, refuse a live one."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise ControlError(
            f"control socket path {path} exists and is not a socket; not touching it"
        )
    if socket_is_listening(path):
        raise ControlError(f"another agent is running: {path} answers (stop it first)")
    log.info("removing stale control socket path=%s", path)
    path.unlink(missing_ok=True)
