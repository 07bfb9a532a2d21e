"""The control client: timeouts, where it looks, a loop of its own, oversized replies."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

import edge_agent.control.client as client
from edge_agent.control.client import NoAgentError, call, call_sync
from edge_agent.control.protocol import ControlError
from tests.unit.edge_agent.control.support import server


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


def test_sync_call_from_code_without_a_loop(sock_dir: Path) -> None:
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
    monkeypatch.setattr(client, "CLIENT_LINE_BYTES", 100)
    path = sock_dir / "control.sock"
    async with server(path):
        with pytest.raises(ControlError, match="reply is longer than 100 bytes"):
            await call(path, "echo", {"x": "y" * 200})
