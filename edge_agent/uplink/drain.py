"""The uplink: connect, announce, drain the outbox, answer commands, reconnect.

One session per connection, the same for every dialect (uplink.dialect: what differs is
topics and payloads). A session publishes the dialect's birth (edge-agent: `status` and
the retained `alarms` snapshot), then drains the outbox in `seq` order with at most
`max_inflight` QoS 1 publishes awaiting their PUBACK; a row is deleted only after
its PUBACK. When the connection drops, the session ends, the rows stay, and the
next session resends every sealed row from the lowest `seq` (duplicates keep their
`seq`). Reconnects use jittered exponential backoff.

A store that cannot be written (a full disk) does not end a session: what is sealed
still goes out, acknowledged rows are remembered until they can be deleted, and the
drain tries again every second (or at the next commit) until there is room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from edge_agent import __version__
from edge_agent.clock import now_ms, t_mono
from edge_agent.config import GatewayConfig
from edge_agent.records import Json
from edge_agent.store import OutboxRow, Store, StoreError
from edge_agent.system.logs import Episode
from edge_agent.uplink import payloads
from edge_agent.uplink.client import LinkError, MqttLink
from edge_agent.uplink.commands import NO_ARGS, CommandRouter
from edge_agent.uplink.dialect import (
    CommandHandler,
    Dialect,
    Outgoing,
    SessionEndError,
    encode_row,
)
from edge_agent.uplink.dialects import make_dialect
from edge_agent.uplink.native import RETAINED_MARGIN
from rules.events import PointMeta

log = logging.getLogger(__name__)

STORE_RETRY_S = 1.0  # a store that cannot be read or written is tried again this often


# How long a new session waits for the broker's retained status (there is none on a
# gateway's first connection); how far seq jumps past the mark found there is
# native.RETAINED_MARGIN.
RETAINED_WAIT_S = 0.5


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
        points: Sequence[PointMeta] = (),
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.gateway = cfg.gateway.id
        self.dialect: Dialect = make_dialect(cfg, store, version, points)
        if commands is None:
            router = CommandRouter(cfg.mqtt.commands, base_dir=cfg.base_dir, fmt=cfg.mqtt.payload)
            router.register("diag", lambda _: self.health(), NO_ARGS)
            self.router: CommandRouter | None = router
            commands = router
        else:
            # The agent's own router: its counters are the `commands` of `health`.
            self.router = commands if isinstance(commands, CommandRouter) else None
        self.commands: CommandHandler = commands
        self.health_source = health
        self.health_interval_s = health_interval_s or cfg.mqtt.health_interval_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.stop_drain_s = stop_drain_s
        self.version = version
        self.batch = max(64, cfg.mqtt.max_inflight * 4)
        self.connected = asyncio.Event()
        self.since_ms = now_ms()  # when `connected` last changed (or the uplink started)
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
                    if self.connected.is_set():
                        self.connected.clear()
                        self.since_ms = now_ms()
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
        return MqttLink(
            self.cfg.mqtt,
            client_id=self.cfg.mqtt.client_id or self.gateway,
            will=self.dialect.will(),
            base_dir=self.cfg.base_dir,
        )

    async def _send(self, link: MqttLink, messages: list[Outgoing]) -> None:
        if messages:
            await link.publish_many([(m.topic, m.payload, m.qos, m.retain) for m in messages])

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
        if self.dialect.mark_topic is not None:
            await self._seq_past_retained_status(link, self.dialect.mark_topic)
        for topic_filter in self.dialect.subscriptions():
            await link.subscribe(topic_filter, qos=1)
        if self.dialect.waiting:
            await _first_of(self._await_ready(link), _wait_event(self._stopping, timeout_s=None))
            if self._stopping.is_set():
                return
        await self._send(link, self.dialect.birth())
        self.connected.set()  # announced, listening for commands
        self.since_ms = now_ms()
        await _first_of(
            self._drain(link),
            self._listen(link),
            self._health_loop(link),
        )
        if self._stopping.is_set():
            await self._send(link, self.dialect.goodbye())

    async def _await_ready(self, link: MqttLink) -> None:
        """What the dialect waits for before its birth (a primary host's STATE)."""
        async for topic, data in link.messages():
            try:
                replies = await self.dialect.incoming(topic, data, self.commands)
            except SessionEndError as err:
                await self._send(link, err.farewell)
                raise
            await self._send(link, replies)
            if not self.dialect.waiting:
                return

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
                retry_s: float | None = None
                if self._stopping.is_set():
                    # A clean stop first drains what is owed, within a deadline.
                    stop_by = stop_by or t_mono() + self.stop_drain_s
                    if t_mono() >= stop_by:
                        break
                self._wake.clear()
                if self._delivered and not acked:
                    self._forget([])  # a full disk may have room again
                try:
                    rows = self.store.pending(self.batch, after_seq=cursor)
                except StoreError as err:
                    self._store_fault.fault("cannot read the buffer, will retry reason=%s", err)
                    rows, retry_s = [], STORE_RETRY_S
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
                if self._delivered:
                    retry_s = STORE_RETRY_S
                timeout = 0.05 if tasks else retry_s
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
                self._forget([r.seq for r in acked])
        if failure:
            raise failure[0]

    async def _settle(self, link: MqttLink, acked: list[OutboxRow]) -> bool:
        """Delete acknowledged rows; republish the snapshot after alarm events."""
        if not acked:
            return False
        done = acked[:]
        acked.clear()
        self._forget([r.seq for r in done])
        if any(r.kind == "alarm" for r in done):
            await self._send(link, self.dialect.after_alarms())
        return True

    def _forget(self, seqs: list[int]) -> None:
        """Delete acknowledged rows; on a full disk remember them, so they are not sent
        again, and delete them once there is room. The session goes on."""
        self._delivered.update(seqs)
        try:
            self.store.delete(sorted(self._delivered))
        except StoreError as err:
            self._store_fault.fault(
                "cannot delete delivered messages, will retry held=%d reason=%s",
                len(self._delivered), err,
            )  # fmt: skip
        else:
            self._delivered.clear()
            self._store_fault.recovered("buffer works again")

    async def _publish_row(self, link: MqttLink, row: OutboxRow) -> None:
        messages = encode_row(self.dialect, row)
        await self._send(link, messages)
        self.counters["published"] += len(messages)

    async def _listen(self, link: MqttLink) -> None:
        """Incoming messages (commands); also how a dropped connection is noticed."""
        async for topic, data in link.messages():
            try:
                replies = await self.dialect.incoming(topic, data, self.commands)
            except SessionEndError as err:  # the dialect ends the session
                await self._send(link, err.farewell)
                raise
            except Exception:  # a handler bug must not end the session
                log.exception("incoming message failed topic=%s", topic)
                continue
            await self._send(link, replies)

    async def _health_loop(self, link: MqttLink) -> None:
        while True:
            await self._send(link, self.dialect.health(self.health()))
            await asyncio.sleep(self.health_interval_s)

    async def _seq_past_retained_status(self, link: MqttLink, topic: str) -> None:
        """The broker keeps this gateway's last status, with its seq mark: a gateway
        whose buffer and mark file were both lost (a new disk) continues above it, with
        a wide gap for what it may have handed out since that status was published."""
        await link.subscribe(topic, qos=1)
        mark: int | None = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RETAINED_WAIT_S):
                async for got_topic, data in link.messages():
                    if got_topic == topic:
                        with contextlib.suppress(Exception):  # anyone can write that topic
                            got = payloads.decode(data, self.cfg.mqtt.payload).get("seq_mark")
                            mark = got if isinstance(got, int) and got > 0 else None
                        break
        await link.unsubscribe(topic)
        if mark is not None and self.store.mark.value < mark:
            self.store.jump_seq(mark + RETAINED_MARGIN)

    def health(self) -> Json:
        """The `health` payload; the agent's source, when given, adds bus/device counters."""
        extra = self.health_source() if self.health_source is not None else {}
        buffer: Json = dict(self.store.stats()) | dict(extra.get("buffer", {}))
        buffer["size_bytes"] = self.store.size_bytes()
        buffer["max_bytes"] = int(self.cfg.buffer.max_mb * 1_000_000)
        buffer["seq_mark"] = self.store.mark.value
        buffer["file_restores"] = self.store.file_restores
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
            | {k: v for k, v in extra.items() if k not in ("buses", "devices", "buffer")},
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
