"""The control socket over a real unix socket: replies, streams, bad input, paths."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import GatewayConfig
from edge_agent.control import (
    ControlError,
    ControlServer,
    MethodError,
    NoAgentError,
    Params,
    call,
    client_socket_paths,
    control_socket_path,
    stream,
)


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # pytest's tmp_path can exceed the 107-byte limit of a unix socket path.
    d = Path(tempfile.mkdtemp(prefix="ea-ctl-", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


async def _echo(params: Params) -> Any:
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
        {"echo": _echo, "boom": _boom, "refuse": _refuse, "slow": _slow, "nan": _nan},
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
    srv = ControlServer(path, {"echo": _echo}, max_line_bytes=1024)
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


async def test_slow_method_times_out_on_the_client(sock_dir: Path) -> None:
    path = sock_dir / "control.sock"
    async with server(path):
        with pytest.raises(ControlError, match=r"did not answer 'slow' within 0\.2 s"):
            await call(path, "slow", timeout_s=0.2)


async def test_no_agent_names_every_path_tried(sock_dir: Path) -> None:
    a, b = sock_dir / "a.sock", sock_dir / "b.sock"
    with pytest.raises(NoAgentError) as err:
        await call([a, b], "status")
    assert str(err.value) == f"no agent running: cannot connect to {a} or {b}"


async def test_second_candidate_is_used_when_the_first_is_absent(sock_dir: Path) -> None:
    path = sock_dir / "control.sock"
    async with server(path):
        assert await call([sock_dir / "absent.sock", path], "echo") == {"echo": {}}


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


def _cfg(data_dir: Path, control_socket: str | None = None) -> GatewayConfig:
    gw: dict[str, Any] = {"id": "gw-1", "site": "s", "data_dir": str(data_dir)}
    if control_socket is not None:
        gw["control_socket"] = control_socket
    return GatewayConfig.model_validate({"gateway": gw})


def test_socket_path_prefers_config_then_runtime_directory_then_data_dir() -> None:
    env = {"RUNTIME_DIRECTORY": "/run/edge-agent:/run/other"}
    assert control_socket_path(_cfg(Path("/d"), "/x/c.sock"), env) == Path("/x/c.sock")
    assert control_socket_path(_cfg(Path("/d")), env) == Path("/run/edge-agent/control.sock")
    assert control_socket_path(_cfg(Path("/d")), {}) == Path("/d/control.sock")


def test_cli_looks_in_the_systemd_runtime_dir_and_data_dir() -> None:
    assert client_socket_paths(_cfg(Path("/d")), {}) == [
        Path("/run/edge-agent/control.sock"),
        Path("/d/control.sock"),
    ]
    assert client_socket_paths(_cfg(Path("/d"), "/x/c.sock"), {}) == [Path("/x/c.sock")]
    env = {"RUNTIME_DIRECTORY": "/run/edge-agent"}
    assert client_socket_paths(_cfg(Path("/d")), env) == [
        Path("/run/edge-agent/control.sock"),
        Path("/d/control.sock"),
    ]


def test_sync_call_from_code_without_a_loop(sock_dir: Path) -> None:
    import threading

    from edge_agent.control import call_sync

    path = sock_dir / "control.sock"
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    loop = asyncio.new_event_loop()

    async def serve() -> None:
        stop.append(asyncio.Event())
        async with server(path):
            ready.set()
            await stop[0].wait()

    t = threading.Thread(target=loop.run_until_complete, args=(serve(),))
    t.start()
    try:
        assert ready.wait(5)
        assert call_sync(path, "echo", {"k": "v"}) == {"echo": {"k": "v"}}
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        t.join(5)
        loop.close()
    assert not os.path.exists(path)


async def test_a_reply_too_long_for_the_client_is_a_clear_error(
    sock_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edge_agent.control as control

    monkeypatch.setattr(control, "CLIENT_LINE_BYTES", 100)
    path = sock_dir / "control.sock"
    async with server(path):
        with pytest.raises(ControlError, match="reply is longer than 100 bytes"):
            await call(path, "echo", {"x": "y" * 200})


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
