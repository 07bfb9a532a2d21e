"""Shared fixtures: free ports, a real mosquitto per test, temporary data dirs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


def mosquitto_bin() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
    )
    if found is None:
        raise RuntimeError("mosquitto is not installed: run ./scripts/bootstrap.sh")
    return found


@dataclass
class Broker:
    """A real mosquitto on 127.0.0.1:port with its own config file; stop() and start() at will."""

    port: int
    conf: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.proc is None, "broker already running"
        self.proc = subprocess.Popen(
            [mosquitto_bin(), "-c", str(self.conf)],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def write_mosquitto_conf(
    path: Path,
    port: int,
    extra: str = "",
    *,
    persistence_dir: Path | None = None,
    listener_extra: str = "",
    anonymous: bool = True,
) -> None:
    """`extra` goes after the global options; `listener_extra` right after `listener`."""
    persistence = (
        f"persistence true\npersistence_location {persistence_dir}/\n"
        if persistence_dir is not None
        else "persistence false\n"
    )
    # Running as root, mosquitto would switch to the `mosquitto` user, which cannot read
    # the password and key files a test writes into its private tmp_path.
    as_user = "user root\n" if os.geteuid() == 0 else ""
    path.write_text(
        f"{as_user}"
        "per_listener_settings false\n"
        f"allow_anonymous {'true' if anonymous else 'false'}\n"
        f"{persistence}"
        "max_queued_messages 100000\n"
        f"{extra}"
        f"listener {port} 127.0.0.1\n"
        f"{listener_extra}"
    )


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    write_mosquitto_conf(conf, port)
    b = Broker(port=port, conf=conf, log=tmp_path / "mosquitto.log")
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """Start a broker with its own config: `make_broker(extra=..., listener_extra=...,
    persistent=True, anonymous=False)`. Every broker started is stopped at the end."""
    started: list[Broker] = []

    def make(
        *,
        extra: str = "",
        listener_extra: str = "",
        persistent: bool = False,
        anonymous: bool = True,
    ) -> Broker:
        port = free_port()
        folder = tmp_path / f"mosquitto-{port}"
        folder.mkdir()
        conf = folder / "mosquitto.conf"
        write_mosquitto_conf(
            conf,
            port,
            extra,
            persistence_dir=folder if persistent else None,
            listener_extra=listener_extra,
            anonymous=anonymous,
        )
        b = Broker(port=port, conf=conf, log=folder / "mosquitto.log")
        b.start()
        started.append(b)
        return b

    try:
        yield make
    finally:
        for b in started:
            b.stop()


@pytest.fixture
def persistent_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker that keeps sessions and queued QoS 1 messages across its own restarts."""
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    store = tmp_path / "mosquitto-store"
    store.mkdir()
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence true\n"
        f"persistence_location {store}/\n"
        "autosave_interval 1\n"
        "max_queued_messages 100000\n"
    )
    b = Broker(port=port, conf=conf, log=tmp_path / "mosquitto.log")
    b.start()
    try:
        yield b
    finally:
        b.stop()
