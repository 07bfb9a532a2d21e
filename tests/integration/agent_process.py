"""Helpers to run `edge-agent run` as a subprocess against loopback servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt

ROOT = Path(__file__).resolve().parents[2]


def gateway_toml(
    data_dir: Path,
    mqtt_port: int,
    devices: list[dict[str, Any]],
    buses: list[dict[str, Any]],
    rules: list[str],
    *,
    gateway_id: str = "gw-test",
    site: str = "test-site",
    topic_prefix: str = "lifeline",
    extra: str = "",
) -> str:
    def val(v: Any) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
        return json.dumps(v)

    out = [
        "[gateway]",
        f"id = {val(gateway_id)}",
        f"site = {val(site)}",
        f"data_dir = {val(str(data_dir))}",
        f"rules = {val(rules)}",
        "",
        "[mqtt]",
        'host = "127.0.0.1"',
        f"port = {mqtt_port}",
        f"topic_prefix = {val(topic_prefix)}",
        extra,
    ]
    for section, items in (("buses", buses), ("devices", devices)):
        for item in items:
            out += ["", f"[[{section}]]"] + [f"{k} = {val(v)}" for k, v in item.items()]
    return "\n".join(out) + "\n"


@dataclass
class AgentProcess:
    config: Path
    log: Path
    proc: asyncio.subprocess.Process | None = None
    env: dict[str, str] | None = None

    async def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(self.env or {})}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "edge_agent",
            "--log-level",
            "debug",
            "run",
            "-c",
            str(self.config),
            stdout=self.log.open("ab"),
            stderr=asyncio.subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )

    async def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        rc = await asyncio.wait_for(self.proc.wait(), timeout_s)
        self.proc = None
        return rc

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.asynccontextmanager
async def agent_process(
    config: Path, log: Path, env: dict[str, str] | None = None
) -> AsyncIterator[AgentProcess]:
    a = AgentProcess(config, log, env=env)
    await a.start()
    try:
        yield a
    finally:
        if a.proc is not None and a.proc.returncode is None:
            a.proc.kill()
            await a.proc.wait()


@dataclass
class Platform:
    """A central platform's subscriber: keeps every message it gets, by topic."""

    messages: list[tuple[str, dict[str, Any], bool]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def of(self, suffix: str) -> list[dict[str, Any]]:
        return [p for t, p, _ in self.messages if t.endswith(suffix) or f"/{suffix}/" in t]

    async def wait_for(self, pred: Any, timeout_s: float = 30) -> None:
        async with asyncio.timeout(timeout_s):
            while not pred():
                self.changed.clear()
                await self.changed.wait()


async def subscribe_forever(
    platform: Platform, port: int, topic: str, client_id: str, persistent: bool
) -> None:
    """Subscribe with QoS 1; reconnect while the broker is away (a persistent session
    keeps what was published meanwhile)."""
    while True:
        try:
            async with aiomqtt.Client(
                "127.0.0.1", port, identifier=client_id, clean_session=not persistent
            ) as client:
                await client.subscribe(topic, qos=1)
                async for msg in client.messages:
                    try:
                        payload = json.loads(bytes(msg.payload))  # type: ignore[arg-type]
                    except ValueError:
                        continue  # e.g. a malformed command a test sent on purpose
                    platform.messages.append((str(msg.topic), payload, bool(msg.retain)))
                    platform.changed.set()
        except aiomqtt.MqttError:
            await asyncio.sleep(0.2)
