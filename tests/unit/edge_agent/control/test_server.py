"""The control server over a real unix socket: replies, streams, bad input, the socket file."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.control.client import NoAgentError, call, stream
from edge_agent.control.protocol import ControlError, Params
from edge_agent.control.server import ControlServer
from edge_agent.errors import EdgeAgentError
from edge_agent.ops.errors import OpError
from tests.unit.edge_agent.control.support import Counter, echo, raw_exchange, server


async def test_call_returns_the_handlers_result(sock_dir: Path) -> None:
    path = sock_dir / "control.sock"
    async with server(path):
        assert await call(path, "echo", {"a": 1}) == {"echo": {"a": 1}}
        assert "echo" in await call(path, "methods")


async def test_socket_is_group_accessible_only_and_removed_on_exit(sock_dir: Path) -> None:
    path = sock_dir / "control.sock"
    async with server(path):
        st = path.stat()
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o660
    assert not path.exists()


async def test_unknown_method_is_an_error_reply_and_the_connection_stays_usable(
    sock_dir: Path,
) -> None:
    path = sock_dir / "control.sock"
    async with server(path):
        replies = await raw_exchange(
            path,
            b'{"id": 7, "method": "reboot"}\n{"id": 8, "method": "echo", "params": {"x": 2}}\n',
            n=2,
        )
    assert replies[0]["id"] == 7
    assert replies[0]["ok"] is False
    assert "unknown method 'reboot'" in replies[0]["error"]
    assert "echo" in replies[0]["error"]  # the reply says what is known
    assert replies[1] == {"id": 8, "ok": True, "result": {"echo": {"x": 2}}}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"not json\n", "malformed request: not a JSON line"),
        (b"[1, 2]\n", "expected a JSON object"),
        (b'{"id": 1}\n', "'method' must be a string"),
        (b'{"id": 1, "method": "echo", "params": [1]}\n', "'params' must be an object"),
        (b"\xff\xfe\n", "malformed request"),
    ],
)
async def test_malformed_requests_get_error_replies(
    sock_dir: Path, line: bytes, expected: str
) -> None:
    path = sock_dir / "control.sock"
    async with server(path):
        (reply,) = await raw_exchange(path, line)
        assert reply["ok"] is False
        assert expected in reply["error"]
        assert await call(path, "echo") == {"echo": {}}  # still serving


async def test_oversized_line_is_refused_and_the_server_survives(sock_dir: Path) -> None:
    path = sock_dir / "control.sock"
    srv = ControlServer(path, {"echo": echo}, max_line_bytes=1024)
    async with srv:
        replies = await raw_exchange(
            path, b'{"id": 1, "method": "echo", "params": "' + b"x" * 5000, n=2
        )
        assert len(replies) == 1  # one error, then the server hangs up
        assert replies[0]["ok"] is False
        assert "longer than 1024 bytes" in replies[0]["error"]
        assert await call(path, "echo", {"after": True}) == {"echo": {"after": True}}


async def test_handler_exception_becomes_an_error_reply(sock_dir: Path) -> None:
    path = sock_dir / "control.sock"
    async with server(path):
        with pytest.raises(ControlError, match="internal error in boom: ZeroDivisionError"):
            await call(path, "boom")
        with pytest.raises(ControlError, match=r"^no point 'pt-9/pressure'"):
            await call(path, "refuse")
        assert await call(path, "echo") == {"echo": {}}


async def test_nan_becomes_null_so_replies_are_strict_json(sock_dir: Path) -> None:
    path = sock_dir / "control.sock"
    async with server(path):
        (reply,) = await raw_exchange(path, b'{"id": 1, "method": "nan"}\n')
    assert reply["result"] == {"value": None, "values": [1.5, None]}


async def test_stream_yields_items_then_ends(sock_dir: Path) -> None:
    path = sock_dir / "control.sock"
    async with server(path):
        items = [item async for item in stream(path, "count", {"n": 3})]
    assert items == [{"i": 0}, {"i": 1}, {"i": 2}]


async def test_stream_error_ends_the_stream_with_the_message(sock_dir: Path) -> None:
    path = sock_dir / "control.sock"
    got: list[Any] = []

    async def collect() -> None:
        async for item in stream(path, "count", {"n": 2, "fail": True}):
            got.append(item)

    async with server(path):
        with pytest.raises(ControlError, match="bus rs485-1 is gone"):
            await collect()
    assert got == [{"i": 0}, {"i": 1}]


async def test_client_leaving_mid_stream_releases_the_stream(sock_dir: Path) -> None:
    path = sock_dir / "control.sock"
    counter = Counter()
    async with server(path, counter):
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b'{"id": 1, "method": "count", "params": {"forever": true}}\n')
        await reader.readline()
        writer.close()
        async with asyncio.timeout(5):
            await counter.closed.wait()
        assert await call(path, "echo") == {"echo": {}}


async def test_client_leaving_a_quiet_stream_releases_it_at_once(sock_dir: Path) -> None:
    path = sock_dir / "control.sock"
    counter = Counter()
    async with server(path, counter):
        _, writer = await asyncio.open_unix_connection(path)
        writer.write(b'{"id": 1, "method": "count", "params": {"n": 0, "quiet": true}}\n')
        await writer.drain()
        await asyncio.sleep(0.05)
        assert not counter.closed.is_set()
        writer.close()  # nothing will ever be written to notice the hang-up by
        async with asyncio.timeout(2):
            await counter.closed.wait()


async def test_stale_socket_of_a_killed_agent_is_replaced(sock_dir: Path) -> None:
    path = sock_dir / "control.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens: what SIGKILL leaves behind
    assert path.exists()
    with pytest.raises(NoAgentError, match="connection refused"):
        await call(path, "echo")
    async with server(path):
        assert await call(path, "echo") == {"echo": {}}


async def test_a_second_agent_refuses_to_take_a_live_socket(sock_dir: Path) -> None:
    path = sock_dir / "control.sock"
    async with server(path):
        with pytest.raises(ControlError, match="another agent is running"):
            await server(path).start()
        assert await call(path, "echo") == {"echo": {}}


async def test_a_regular_file_in_the_way_is_not_deleted(sock_dir: Path) -> None:
    path = sock_dir / "control.sock"
    path.write_text("precious")
    with pytest.raises(ControlError, match="is not a socket"):
        await server(path).start()
    assert path.read_text() == "precious"


async def test_too_long_socket_path_is_a_clear_error(sock_dir: Path) -> None:
    path = sock_dir / ("x" * 120) / "control.sock"
    with pytest.raises(ControlError, match="too long"):
        await server(path).start()


async def test_closing_the_server_ends_live_streams_before_returning(sock_dir: Path) -> None:
    path = sock_dir / "control.sock"
    counter = Counter()
    srv = server(path, counter)
    await srv.start()
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(b'{"id": 1, "method": "count", "params": {"forever": true}}\n')
    await reader.readline()
    await srv.close()  # what the agent does on SIGTERM
    assert counter.closed.is_set()
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    async with asyncio.timeout(1):
        await reader.read()  # reaches EOF: the client sees the connection end
    writer.close()


async def connect_as(path: Path, uid: int, groups: list[int]) -> tuple[int, str, str]:
    """Talk to the socket as another user, with the kernel's permission checks (needs root,
    as `make test` runs; setpriv and socat are on every CI machine)."""
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}"]
    cmd += [f"--groups={','.join(map(str, groups))}"] if groups else ["--clear-groups"]
    cmd += ["socat", "-t", "2", "-", f"UNIX-CONNECT:{path}"]
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(10):
        out, err = await proc.communicate(b'{"id": 1, "method": "echo", "params": {"a": 1}}\n')
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_socket_admits_its_group_and_refuses_everyone_else(sock_dir: Path) -> None:
    os.chmod(sock_dir, 0o755)  # only the socket's own mode decides
    path = sock_dir / "control.sock"
    nobody = 65534
    async with server(path):
        gid = path.stat().st_gid
        rc, out, _ = await connect_as(path, nobody, [gid])
        assert rc == 0
        assert json.loads(out) == {"id": 1, "ok": True, "result": {"echo": {"a": 1}}}
        rc, out, err = await connect_as(path, nobody, [])
        assert rc != 0
        assert out == ""
        assert "Permission denied" in err


async def _op_refused(params: Params) -> Any:
    raise OpError("unit 3 is not on bus 'rs485-1' (units there: 1, 2)")


class _OtherError(EdgeAgentError):
    pass


async def _other_refused(params: Params) -> Any:
    raise _OtherError("mode 'flood' is not in [gateway] mode_schedule")


async def _op_stream(params: Params) -> AsyncGenerator[Any, None]:
    yield {"i": 0}
    raise OpError("bus rs485-1 was closed (reload)")


async def test_any_edge_agent_error_of_a_handler_is_a_clean_error_reply(sock_dir: Path) -> None:
    path = sock_dir / "control.sock"
    handlers = {"op": _op_refused, "other": _other_refused}
    async with ControlServer(path, handlers, {"ops": _op_stream}):
        (reply,) = await raw_exchange(path, b'{"id": 7, "method": "op"}\n')
        assert reply == {
            "id": 7,
            "ok": False,
            "error": "unit 3 is not on bus 'rs485-1' (units there: 1, 2)",
        }
        with pytest.raises(ControlError, match=r"^mode 'flood' is not in \[gateway\]"):
            await call(path, "other")
        items = stream(path, "ops")
        assert await anext(items) == {"i": 0}
        with pytest.raises(ControlError, match=r"^bus rs485-1 was closed \(reload\)$"):
            await anext(items)


async def test_idle_connections_are_closed_so_they_cannot_lock_the_cli_out(
    sock_dir: Path,
) -> None:
    path = sock_dir / "control.sock"
    srv = ControlServer(path, {"echo": echo}, max_clients=3, idle_timeout_s=0.5)
    async with srv:
        idle = [await asyncio.open_unix_connection(str(path)) for _ in range(3)]
        with pytest.raises(ControlError, match="busy"):
            await call(path, "echo", {})
        for reader, writer in idle:  # each is told why, then closed
            async with asyncio.timeout(10):
                reply = json.loads(await reader.readline())
                assert await reader.read() == b""
            assert reply["ok"] is False
            assert reply["error"] == "no request for 0.5 s: closing the connection"
            writer.close()
        assert await call(path, "echo", {"back": 1}) == {"echo": {"back": 1}}
