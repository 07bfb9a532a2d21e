"""The control socket: how the CLI talks to the running daemon.

A unix stream socket (mode 0660) carrying JSON lines. A request is one line
`{"id": 1, "method": "status", "params": {}}`; the reply is one line
`{"id": 1, "ok": true, "result": ...}` or `{"id": 1, "ok": false, "error": "..."}`.
A streaming method (`tail`, `scan`) first sends any number of
`{"id", "ok": true, "result": ITEM, "more": true}` lines, then one ordinary
reply that ends it. Several requests may follow each other on one connection.

Bad input never takes the server down: malformed JSON, an unknown method,
wrong params, an oversized line or a handler that raises all become an error
reply. The methods themselves are the daemon's (`docs/cli.md` lists them).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import math
import os
import socket
import stat
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from edge_agent.config import GatewayConfig
from edge_agent.errors import EdgeAgentError

log = logging.getLogger(__name__)

Params = dict[str, Any]
Handler = Callable[[Params], Awaitable[Any]]
StreamHandler = Callable[[Params], AsyncGenerator[Any, None]]

SOCKET_NAME = "control.sock"
# Where systemd's RuntimeDirectory=edge-agent puts the socket: the CLI looks here even
# though a technician's shell has no $RUNTIME_DIRECTORY.
SYSTEMD_RUNTIME_DIR = Path("/run/edge-agent")
MAX_LINE_BYTES = 64 * 1024
# Replies can be much larger than requests: a status of a gateway with many devices.
CLIENT_LINE_BYTES = 16 * 1024 * 1024
MAX_CLIENTS = 16
SOCKET_MODE = 0o660
# sockaddr_un.sun_path is 108 bytes on Linux, one of them the terminating NUL.
_MAX_PATH_BYTES = 107


class ControlError(EdgeAgentError):
    """The daemon cannot be reached, or it answered a request with an error."""


class NoAgentError(ControlError):
    """Nothing listens on the control socket."""


class MethodError(EdgeAgentError):
    """Raised by a handler to reply `ok: false` with this message (a user's mistake)."""


def control_socket_path(cfg: GatewayConfig, env: Mapping[str, str] | None = None) -> Path:
    """Where the daemon listens: `[gateway] control_socket`, else $RUNTIME_DIRECTORY
    (set by systemd's RuntimeDirectory=), else `{data_dir}/control.sock`."""
    env = os.environ if env is None else env
    if cfg.gateway.control_socket is not None:
        return cfg.resolve(cfg.gateway.control_socket)
    runtime = env.get("RUNTIME_DIRECTORY", "")
    if runtime:
        # systemd joins several RuntimeDirectory= entries with ':'; ours is the first.
        return Path(runtime.split(":")[0]) / SOCKET_NAME
    return cfg.data_dir / SOCKET_NAME


def client_socket_paths(cfg: GatewayConfig, env: Mapping[str, str] | None = None) -> list[Path]:
    """Where the CLI looks for the daemon, in order. Without an explicit
    `control_socket` the daemon may run under systemd (socket in /run/edge-agent)
    or by hand (socket in data_dir), and the CLI's environment cannot tell which."""
    if cfg.gateway.control_socket is not None:
        return [control_socket_path(cfg, env)]
    env = os.environ if env is None else env
    runtime = env.get("RUNTIME_DIRECTORY", "")
    candidates = [Path(runtime.split(":")[0]) / SOCKET_NAME] if runtime else []
    candidates += [SYSTEMD_RUNTIME_DIR / SOCKET_NAME, cfg.data_dir / SOCKET_NAME]
    out: list[Path] = []
    for p in candidates:
        if p not in out:
            out.append(p)
    return out


def check_socket_path(path: Path) -> None:
    n = len(os.fsencode(path))
    if n > _MAX_PATH_BYTES:
        raise ControlError(
            f"control socket path is too long ({n} bytes, at most {_MAX_PATH_BYTES}): {path}; "
            "set a shorter [gateway] control_socket"
        )


def encode(message: Mapping[str, Any]) -> bytes:
    """One JSON line. NaN and infinities (a bad reading's value) become null: strict JSON."""
    return json.dumps(_finite(message), ensure_ascii=False, default=str).encode() + b"\n"


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


# ---------------------------------------------------------------- server


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
                await _send(writer, _error(None, f"busy: more than {self.max_clients} clients"))
                return
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    # The rest of that line is still coming; no way to find the next request.
                    msg = f"request longer than {self.max_line_bytes} bytes"
                    await _send(writer, _error(None, msg))
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
            req = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            await _send(writer, _error(None, f"malformed request: not a JSON line ({err})"))
            return
        if not isinstance(req, dict):
            await _send(writer, _error(None, "malformed request: expected a JSON object"))
            return
        rid = req.get("id")
        method = req.get("method")
        params = req.get("params", {})
        if params is None:
            params = {}
        if not isinstance(method, str):
            await _send(writer, _error(rid, "malformed request: 'method' must be a string"))
            return
        if not isinstance(params, dict):
            await _send(writer, _error(rid, "malformed request: 'params' must be an object"))
            return
        if method in self.streams:
            await self._run_stream(rid, method, params, reader, writer)
            return
        handler = self.handlers.get(method)
        if handler is None:
            known = ", ".join(sorted([*self.handlers, *self.streams]))
            await _send(writer, _error(rid, f"unknown method {method!r} (known: {known})"))
            return
        try:
            result = await handler(params)
        except MethodError as err:
            await _send(writer, _error(rid, str(err)))
            return
        except Exception as err:
            log.exception("control method failed method=%s", method)
            await _send(writer, _error(rid, f"internal error in {method}: {_describe(err)}"))
            return
        await _send(writer, {"id": rid, "ok": True, "result": result})

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
                await _send(writer, {"id": rid, "ok": True, "result": item, "more": True})
        except MethodError as err:
            await _send(writer, _error(rid, str(err)))
            return
        except ConnectionError:
            raise  # the client left: not the stream's fault
        except Exception as err:
            log.exception("control stream failed method=%s", method)
            await _send(writer, _error(rid, f"internal error in {method}: {_describe(err)}"))
            return
        finally:
            # Release what the stream holds (a tail subscription) even if the client left.
            await items.aclose()
        await _send(writer, {"id": rid, "ok": True, "result": None})


async def _wait_eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(4096):
        pass


def _error(rid: Any, msg: str) -> dict[str, Any]:
    return {"id": rid, "ok": False, "error": msg}


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


# ---------------------------------------------------------------- client


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
    try:
        reply = json.loads(line)
    except json.JSONDecodeError as err:
        raise ControlError(f"the agent sent a malformed reply: {err}") from err
    if not isinstance(reply, dict) or reply.get("id") not in (rid, None):
        raise ControlError(f"the agent sent an unexpected reply: {line[:200]!r}")
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error") or "the agent refused the request"))
    return reply


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
                writer.write(encode({"id": 1, "method": method, "params": params or {}}))
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
        writer.write(encode({"id": 1, "method": method, "params": params or {}}))
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


def socket_is_listening(path: Path) -> bool:
    """True if something accepts connections on `path` (a cheap liveness probe)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(os.fspath(path))
        except OSError:
            return False
    return True
