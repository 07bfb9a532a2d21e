"""Helpers for uplink tests: a subscriber that survives broker restarts, configs, records."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import msgpack

from edge_agent.config import GatewayConfig
from edge_agent.records import AlarmState, AlarmTransition, DevicePoll, Evidence, Reading


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def gateway_config(port: int, prefix: str, tmp_path: Path, **mqtt: Any) -> GatewayConfig:
    cfg = GatewayConfig.model_validate(
        {
            "gateway": {"id": "gw-test", "site": "site-a", "data_dir": str(tmp_path)},
            "mqtt": {"host": "127.0.0.1", "port": port, "topic_prefix": prefix, **mqtt},
        }
    )
    cfg._base_dir = tmp_path
    return cfg


@dataclass
class Received:
    topic: str
    payload: Any
    retain: bool
    raw: bytes
    qos: int = 1


@dataclass
class Collector:
    """Subscribes to `{prefix}/#`; reconnects while the broker is away.

    With `persistent=True` it keeps a broker-side session (clean_session false), so
    QoS 1 messages published while it is reconnecting are queued for it, as long as
    the broker itself persists sessions across restarts.
    """

    port: int
    topic_filter: str
    fmt: str = "json"
    persistent: bool = False
    username: str | None = None
    password: str | None = None
    messages: list[Received] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> Collector:
        self._task = asyncio.create_task(self._run())
        async with asyncio.timeout(10):
            await self.connected.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        ident = f"sub-{uuid.uuid4().hex[:8]}"
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1",
                    self.port,
                    identifier=ident,
                    clean_session=not self.persistent,
                    username=self.username,
                    password=self.password,
                ) as client:
                    await client.subscribe(self.topic_filter, qos=1)
                    self.connected.set()
                    async for m in client.messages:
                        raw = bytes(m.payload) if isinstance(m.payload, bytes | bytearray) else b""
                        self.messages.append(
                            Received(m.topic.value, self._decode(raw), m.retain, raw, m.qos)
                        )
                        self._changed.set()
            except aiomqtt.MqttError:
                self.connected.clear()
                await asyncio.sleep(0.2)

    def _decode(self, raw: bytes) -> Any:
        if not raw:
            return None
        try:
            if self.fmt == "json":
                return json.loads(raw)
            return msgpack.unpackb(raw, raw=False)
        except ValueError:  # someone else's bytes on a topic we watch (a bad command)
            return None

    def on(self, suffix: str) -> list[Received]:
        return [m for m in self.messages if m.topic.endswith(suffix)]

    def seqs(self) -> list[int]:
        return [
            m.payload["seq"]
            for m in self.messages
            if "/alarm/" in m.topic or "/telemetry/" in m.topic
        ]

    async def wait_for(self, pred: Callable[[], bool], timeout_s: float = 15.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not pred():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.1):
                        await self._changed.wait()


def poll(device: str, ts_ms: int, values: dict[str, float]) -> DevicePoll:
    readings = tuple(
        Reading(
            device,
            name,
            ts_ms,
            v,
            "good" if v == v else "bad",
            None if v == v else "timeout",
        )
        for name, v in values.items()
    )
    return DevicePoll(device, ts_ms, readings, ok=True)


def alarm(
    alarm_id: str,
    state: AlarmState = AlarmState.RAISED,
    *,
    ts_ms: int = 1_700_000_000_000,
    eta_s: float | None = None,
    evidence: Evidence | None = None,
) -> AlarmTransition:
    return AlarmTransition(
        alarm_id=alarm_id,
        ts_ms=ts_ms,
        device="pt-101",
        point="pressure",
        rule="water.pressure.low",
        kind="trend" if eta_s is not None else "threshold",
        level=2,
        state=state,
        value=0.12,
        limit=0.2,
        unit="MPa",
        eta_s=eta_s,
        evidence=evidence,
    )
