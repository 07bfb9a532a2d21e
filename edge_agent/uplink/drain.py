"""The uplink: connect, announce, drain the outbox, answer commands, reconnect.

One session per connection. A session publishes the birth `status`, the retained
`alarms` snapshot, then drains the outbox in `seq` order with at most
`max_inflight` QoS 1 publishes awaiting their PUBACK; a row is deleted only after
its PUBACK. When the connection drops, the session ends, the rows stay, and the
next session resends every sealed row from the lowest `seq` (duplicates keep their
`seq`). Reconnects use jittered exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from edge_agent import __version__
from edge_agent.clock import now_ms, t_mono
from edge_agent.config import GatewayConfig
from edge_agent.records import Json
from edge_agent.store import OutboxRow, Store, StoreError
from edge_agent.system.logs import Episode
from edge_agent.uplink import payloads
from edge_agent.uplink.client import LastWill, LinkError, MqttLink
from edge_agent.uplink.commands import NO_ARGS, CommandRouter
from edge_agent.uplink.topics import Topics

log = logging.getLogger(__name__)


class CommandHandler(Protocol):
    async def __call__(self, name: str, payload: bytes) -> Json | None:
        """Handle `{root}/cmd/{name}`; return the reply payload (None: no reply)."""


def backoff_s(attempt: int, lo_s: float, hi_s: float) -> float:
    """Exponential with jitter in [half, full], so a fleet does not reconnect in step."""
    cap = min(hi_s, lo_s * (2 ** min(attempt, 30)))
    return random.uniform(cap / 2, cap)


class Uplink:
    def __init__(
        self,
        cfg: GatewayConfig,
        store: Store,
        *,
        commands: CommandHandler | None = None,
        health: Callable[[], Json] | None = None,
        health_interval_s: float | None = None,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 60.0,
        stop_drain_s: float = 3.0,
        version: str = __version__,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.gateway = cfg.gateway.id
        self.topics = Topics.build(cfg.mqtt.topic_prefix, cfg.gateway.site, cfg.gateway.id)
        self.encoder = payloads.Encoder(cfg.mqtt.payload)
        if commands is None:
            router = CommandRouter(cfg.mqtt.commands, base_dir=cfg.base_dir, fmt=cfg.mqtt.payload)
            router.register("diag", lambda _: self.health(), NO_ARGS)
            self.router: CommandRouter | None = router
            commands = router
        else:
            self.router = None
        self.commands: CommandHandler = commands
        self.health_source = health
        self.health_interval_s = health_interval_s or cfg.mqtt.health_interval_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.stop_drain_s = stop_drain_s
        self.version = version
        self.batch = max(64, cfg.mqtt.max_inflight * 4)
        self.connected = asyncio.Event()
        self.last_error: str | None = None
        self.counters = {"published": 0, "connects": 0, "connect_failures": 0}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._done = asyncio.Event()
        self._down_since: float | None = None
        self._started = t_mono()
        self._delivered: set[int] = set()  # acknowledged, not yet deleted (disk full)
        self._store_fault = Episode(log)
        store.on_commit(self.wake)

    def wake(self) -> None:
        """New rows are in the store. The store already calls this after each commit;
        calling it again is harmless."""
        self._wake.set()

    # -- lifecycle -------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, drain and reconnect until `stop()`."""
        attempt = 0
        try:
            while not self._stopping.is_set():
                try:
                    link = self._link()
                    async with link:
                        attempt = 0
                        self._up()
                        await self._session(link)
                except LinkError as err:
                    self._lost(err)
                except Exception as err:  # a store failure or a bug: retry, never crash
                    if self._down_since is None:
                        log.exception("uplink session failed reason=%s", err)
                        self._down_since = t_mono()
                    self.counters["connect_failures"] += 1
                    self.last_error = f"{type(err).__name__}: {err}"
                finally:
                    self.connected.clear()
                if self._stopping.is_set():
                    break
                delay = backoff_s(attempt, self.backoff_min_s, self.backoff_max_s)
                attempt += 1
                log.debug("reconnecting in %.1f s attempt=%d", delay, attempt)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._stopping.wait()
        finally:
            self._done.set()

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Publish `offline`, disconnect cleanly (no last will) and end `run()`."""
        self._stopping.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._done.wait()

    def _link(self) -> MqttLink:
        will = LastWill(self.topics.status, self._status("offline"))
        return MqttLink(
            self.cfg.mqtt,
            client_id=self.cfg.mqtt.client_id or self.gateway,
            will=will,
            base_dir=self.cfg.base_dir,
        )

    def _status(self, state: Any) -> bytes:
        return self.encoder.encode(payloads.status(state, now_ms(), self.version))

    def _up(self) -> None:
        self.counters["connects"] += 1
        where = f"{self.cfg.mqtt.host}:{self.cfg.mqtt.port}"
        if self._down_since is not None:
            log.info(
                "broker connection restored broker=%s outage_s=%.1f pending=%d",
                where,
                t_mono() - self._down_since,
                self.store.depth(),
            )
        else:
            log.info("broker connected broker=%s", where)
        self._down_since = None
        self.last_error = None

    def _lost(self, err: LinkError) -> None:
        self.counters["connect_failures"] += 1
        if self._down_since is None:
            self._down_since = t_mono()
            level = logging.ERROR if err.cause in ("tls", "auth") else logging.WARNING
            log.log(level, "broker unavailable cause=%s reason=%s", err.cause, err)
        elif str(err) != self.last_error:
            log.debug("broker still unavailable cause=%s reason=%s", err.cause, err)
        self.last_error = str(err)

    # -- one connection ----------------------------------------------------------------

    async def _session(self, link: MqttLink) -> None:
        await link.publish(self.topics.status, self._status("online"), qos=1, retain=True)
        await self._publish_snapshot(link)
        await link.subscribe(self.topics.commands, qos=1)
        self.connected.set()  # announced, snapshot out, listening for commands
        await _first_of(
            self._drain(link),
            self._listen(link),
            self._health_loop(link),
        )
        if self._stopping.is_set():
            await link.publish(self.topics.status, self._status("offline"), qos=1, retain=True)

    async def _publish_snapshot(self, link: MqttLink) -> None:
        snap = payloads.alarms_snapshot(self.store.active_alarms(), self.gateway, now_ms())
        await link.publish(self.topics.alarms, self.encoder.encode(snap), qos=1, retain=True)

    async def _drain(self, link: MqttLink) -> None:
        """Publish sealed rows in seq order; delete each after its PUBACK."""
        window = asyncio.Semaphore(self.cfg.mqtt.max_inflight)
        acked: list[OutboxRow] = []
        failure: list[LinkError] = []
        tasks: set[asyncio.Task[None]] = set()
        cursor = 0

        async def send(row: OutboxRow) -> None:
            try:
                await self._publish_row(link, row)
                acked.append(row)
            except LinkError as err:
                failure.append(err)
                self._wake.set()
            finally:
                window.release()

        stop_by: float | None = None
        try:
            while not failure:
                if self._stopping.is_set():
                    # A clean stop first drains what is owed, within a deadline.
                    stop_by = stop_by or t_mono() + self.stop_drain_s
                    if t_mono() >= stop_by:
                        break
                self._wake.clear()
                rows = self.store.pending(self.batch, after_seq=cursor)
                if self._delivered:
                    cursor = max(cursor, *(r.seq for r in rows)) if rows else cursor
                    rows = [r for r in rows if r.seq not in self._delivered]
                for row in rows:
                    await window.acquire()
                    if failure:
                        window.release()
                        break
                    task = asyncio.create_task(send(row))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    cursor = row.seq
                if await self._settle(link, acked) or rows:
                    continue
                if self._stopping.is_set():
                    if not tasks:
                        break
                    await asyncio.sleep(0.01)
                    continue
                timeout = 0.05 if tasks else None
                await _wait_event(self._wake, self._stopping, timeout_s=timeout)
            if self._stopping.is_set() and tasks and not failure:
                # Let what is in flight land: fewer duplicates after a clean stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2.0):
                        await asyncio.gather(*tasks, return_exceptions=True)
            await self._settle(link, acked)
        finally:
            for task in tasks:
                task.cancel()
            if acked:  # acknowledged before the session ended: never resend those
                self.store.delete([r.seq for r in acked])
        if failure:
            raise failure[0]

    async def _settle(self, link: MqttLink, acked: list[OutboxRow]) -> bool:
        """Delete acknowledged rows; republish the snapshot after alarm events."""
        if not acked:
            return False
        done = acked[:]
        acked.clear()
        self._delivered.update(r.seq for r in done)
        try:
            self.store.delete(sorted(self._delivered))
        except StoreError as err:
            # Disk full: remember what the broker has, so it is not sent again, and
            # delete it once there is room. The session goes on.
            self._store_fault.fault(
                "cannot delete delivered messages, will retry held=%d reason=%s",
                len(self._delivered), err,
            )  # fmt: skip
        else:
            self._delivered.clear()
            self._store_fault.recovered("delivered messages deleted again")
        if any(r.kind == "alarm" for r in done):
            await self._publish_snapshot(link)
        return True

    async def _publish_row(self, link: MqttLink, row: OutboxRow) -> None:
        if row.kind == "alarm":
            topic = self.topics.alarm(row.device, row.point or "")
            if row.alarm is not None:
                data = self.encoder.alarm(row.seq, row.alarm, row.gateway)
            else:
                data = self.encoder.stored_alarm(row.seq, row.body)
            qos = 1
        elif row.kind == "action":
            if row.action is None:  # its decision was lost (never expected): nothing to say
                log.error("action event without its decision seq=%d", row.seq)
                return
            topic = self.topics.action(row.device, row.point or "")
            data = self.encoder.action(row.seq, row.action, row.gateway)
            qos = 1
        else:
            topic = self.topics.telemetry(row.device)
            data = self.encoder.telemetry(row.seq, row.gateway, row.device, row.body)
            qos = self.cfg.mqtt.telemetry_qos
        await link.publish(topic, data, qos=qos)
        self.counters["published"] += 1

    async def _listen(self, link: MqttLink) -> None:
        """Incoming commands; also how a dropped connection is noticed."""
        async for topic, data in link.messages():
            name = self.topics.command_name(topic)
            if name is None:
                continue
            try:
                reply = await self.commands(name, data)
            except Exception as err:  # a handler bug must not end the session
                log.exception("command failed name=%s", name)
                reply = {"id": None, "ok": False, "error": f"internal error: {err}"}
            if reply is not None:
                await link.publish(self.topics.reply(name), self.encoder.encode(reply), qos=1)

    async def _health_loop(self, link: MqttLink) -> None:
        while True:
            await link.publish(self.topics.health, self.encoder.encode(self.health()), qos=0)
            await asyncio.sleep(self.health_interval_s)

    def health(self) -> Json:
        """The `health` payload; the agent's source, when given, adds bus/device counters."""
        extra = self.health_source() if self.health_source is not None else {}
        buffer: Json = dict(self.store.stats())
        buffer["size_bytes"] = self.store.size_bytes()
        buffer["max_bytes"] = int(self.cfg.buffer.max_mb * 1_000_000)
        recovery = self.store.recovery
        buffer["recovered_from"] = None if recovery is None else str(recovery.moved_to)
        return payloads.health(
            gateway=self.gateway,
            ts_ms=now_ms(),
            uptime_s=t_mono() - self._started,
            buffer=buffer,
            buses=extra.get("buses"),
            devices=extra.get("devices"),
            extra={
                "uplink": dict(self.counters),
                "commands": dict(self.router.counters) if self.router is not None else {},
            }
            | {k: v for k, v in extra.items() if k not in ("buses", "devices")},
        )


async def _wait_event(*events: asyncio.Event, timeout_s: float | None) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


async def _first_of(*coros: Coroutine[Any, Any, None] | Awaitable[None]) -> None:
    """Run until the first finishes; cancel the rest; re-raise the first's error."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for t in done:
        exc = None if t.cancelled() else t.exception()
        if exc is not None:
            raise exc
