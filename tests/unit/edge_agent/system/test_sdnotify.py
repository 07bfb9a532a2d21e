"""sd_notify against a real datagram socket standing in for systemd's NOTIFY_SOCKET."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.system.sdnotify import Notifier, run_watchdog, watchdog_interval_s


class Listener:
    """What systemd does: bind a datagram socket and read what the service sends."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.setblocking(False)

    def drain(self) -> list[str]:
        out = []
        while True:
            try:
                out.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return out

    def wait(self, timeout_s: float = 2.0) -> str:
        self.sock.settimeout(timeout_s)
        try:
            return self.sock.recv(4096).decode()
        finally:
            self.sock.setblocking(False)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="ea-sd-", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def listener(short_dir: Path) -> Iterator[tuple[Listener, str]]:
    path = short_dir / "notify.sock"
    lst = Listener(str(path))
    try:
        yield lst, str(path)
    finally:
        lst.sock.close()


def test_ready_status_stopping_arrive_as_systemd_reads_them(
    listener: tuple[Listener, str],
) -> None:
    lst, path = listener
    with Notifier({"NOTIFY_SOCKET": path}) as n:
        assert n.enabled
        assert n.ready("polling 3 devices")
        assert lst.wait() == "READY=1\nSTATUS=polling 3 devices"
        assert n.status("uplink down, buffering")
        assert lst.wait() == "STATUS=uplink down, buffering"
        assert n.stopping()
        assert lst.wait() == "STOPPING=1"


def test_abstract_socket_name_with_at_sign() -> None:
    name = f"edge-agent-test-{uuid.uuid4().hex}"
    lst = Listener(b"\0" + name.encode())
    try:
        with Notifier({"NOTIFY_SOCKET": f"@{name}"}) as n:
            assert n.watchdog()
        assert lst.wait() == "WATCHDOG=1"
    finally:
        lst.sock.close()


def test_without_notify_socket_everything_is_a_quiet_no_op() -> None:
    n = Notifier({})
    assert not n.enabled
    assert not n.ready()
    assert not n.watchdog()


def test_vanished_listener_does_not_raise_and_recovers(short_dir: Path) -> None:
    path = short_dir / "notify.sock"
    with Notifier({"NOTIFY_SOCKET": str(path)}) as n:
        assert not n.ready()  # nobody listening yet: logged, not raised
        lst = Listener(str(path))
        try:
            assert n.ready()
            assert lst.wait() == "READY=1"
        finally:
            lst.sock.close()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # not ours
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec(
    env: dict[str, str], expected: float | None
) -> None:
    assert watchdog_interval_s(env) == expected


async def test_watchdog_pings_from_the_loop_at_half_the_timeout(
    listener: tuple[Listener, str],
) -> None:
    lst, path = listener
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})  # 0.1 s -> ping every 0.05
    assert n.watchdog_interval_s == pytest.approx(0.05)
    task = asyncio.create_task(run_watchdog(n))
    await asyncio.sleep(0.52)
    pings = lst.drain()
    assert all(p == "WATCHDOG=1" for p in pings)
    assert 5 <= len(pings) <= 12  # about 10; slack for a loaded CI machine

    # A blocked event loop must starve the watchdog, or systemd could never catch a hang.
    time.sleep(0.3)  # noqa: ASYNC251 -- blocking the loop on purpose
    assert lst.drain() == []
    await asyncio.sleep(0.12)  # the loop runs again: pings resume, without a burst
    assert 1 <= len(lst.drain()) <= 4
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    n.close()


async def test_watchdog_withholds_pings_while_the_agent_is_not_alive(
    listener: tuple[Listener, str],
) -> None:
    lst, path = listener
    healthy = [True]
    n = Notifier({"NOTIFY_SOCKET": path})
    task = asyncio.create_task(run_watchdog(n, 0.02, alive=lambda: healthy[0]))
    await asyncio.sleep(0.1)
    assert lst.drain()
    healthy[0] = False
    await asyncio.sleep(0.03)  # a ping decided before the flip may still be in flight
    lst.drain()
    await asyncio.sleep(0.1)
    assert lst.drain() == []
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    n.close()


async def test_watchdog_returns_at_once_when_not_asked_for(
    listener: tuple[Listener, str],
) -> None:
    _, path = listener
    async with asyncio.timeout(1):
        await run_watchdog(Notifier({"NOTIFY_SOCKET": path}))  # no WATCHDOG_USEC
        await run_watchdog(Notifier({"WATCHDOG_USEC": "1000000"}))  # no NOTIFY_SOCKET
