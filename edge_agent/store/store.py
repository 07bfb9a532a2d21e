"""The Store facade: the single source of truth between detection and the uplink.

Readings are buffered in memory and committed at most once per `commit_interval_s`
(one fsync per second instead of one per poll). Alarm transitions are committed at
once, durably, together with any buffered readings, before anything can publish them.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.clock import now_ms, t_mono
from edge_agent.records import AlarmTransition, DevicePoll
from edge_agent.store import alarms, baselines, limits, migrations, outbox, readings
from edge_agent.store import seq as counters
from edge_agent.store.db import connect, transaction
from edge_agent.store.errors import StoreError
from edge_agent.store.outbox import OutboxRow, ReadingsCodec

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 128 * 1024


@dataclass(frozen=True, slots=True)
class Recovery:
    """A damaged buffer found at start: where it was moved, and why. The agent raises
    an alarm from this; the data in the old file was not delivered."""

    moved_to: Path
    reason: str


class Store:
    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        *,
        codec: ReadingsCodec,
        commit_interval_s: float = 1.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.conn = conn
        self.path = path
        self.codec = codec
        self.commit_interval_s = commit_interval_s
        self.max_message_bytes = max_message_bytes
        self._polls: list[tuple[DevicePoll, str]] = []
        self._last_commit = t_mono()
        self._listeners: list[Callable[[], None]] = []
        self.recovery: Recovery | None = None
        self._dropping = False

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        codec: ReadingsCodec,
        commit_interval_s: float = 1.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> Store:
        path = Path(path)
        recovery: Recovery | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                conn = _open_checked(path)
            except sqlite3.DatabaseError as err:
                if not _is_damage(err):
                    raise
                recovery = _move_aside(path, str(err))
                log.error(
                    "buffer database damaged, moved aside path=%s moved_to=%s reason=%s",
                    path,
                    recovery.moved_to,
                    recovery.reason,
                )
                conn = _open_checked(path)
                # The old counter is gone: restart seq far above anything used so far,
                # so the platform sees a gap (real loss) and never a repeated seq.
                with transaction(conn):
                    counters.set_next_seq(conn, now_ms() * 1000)
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"cannot open buffer database {path}: {err}") from err
        store = cls(
            conn,
            path,
            codec=codec,
            commit_interval_s=commit_interval_s,
            max_message_bytes=max_message_bytes,
        )
        store.recovery = recovery
        return store

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` after every commit that adds messages (the uplink's wake-up)."""
        self._listeners.append(callback)

    def _committed(self) -> None:
        self._last_commit = t_mono()
        for cb in self._listeners:
            cb()

    # -- writes ------------------------------------------------------------------------

    def add_poll(self, poll: DevicePoll, gateway_id: str) -> None:
        """Buffer one device poll: its readings rows and one telemetry message.

        Written at the next flush, which happens here once `commit_interval_s` has
        passed since the last commit, or in `flush()` / `add_alarms()`.
        """
        self._polls.append((poll, gateway_id))
        if t_mono() - self._last_commit >= self.commit_interval_s:
            self.flush()

    def flush(self) -> int:
        """Commit buffered polls now; returns how many were written."""
        if not self._polls:
            return 0
        polls = self._polls
        self._commit(lambda: self._write_polls(polls))
        self._polls = self._polls[len(polls) :]
        self._committed()
        return len(polls)

    def flush_due(self) -> bool:
        """Whether buffered polls have waited `commit_interval_s` (for a periodic flusher)."""
        return bool(self._polls) and t_mono() - self._last_commit >= self.commit_interval_s

    def _write_polls(self, polls: Sequence[tuple[DevicePoll, str]]) -> None:
        created = now_ms()
        for poll, gateway in polls:
            if not poll.readings:
                continue
            lo = readings.insert(self.conn, poll.readings)
            outbox.add_telemetry(
                self.conn,
                gateway=gateway,
                device=poll.device,
                fragment=self.codec.encode(poll.readings),
                n=len(poll.readings),
                reading_lo=lo,
                created_ms=created,
            )

    def add_alarms(self, transitions: Sequence[AlarmTransition], gateway_id: str) -> None:
        """Commit alarm rows and their outbox messages durably, in one transaction.

        Buffered readings go in the same transaction, so history stays in time order.
        Raises StoreError only if the alarm cannot be written even after making room.
        """
        if not transitions and not self._polls:
            return
        created = now_ms()
        polls = self._polls

        def write() -> None:
            self._write_polls(polls)
            refs = alarms.insert(self.conn, transitions)
            for t, ref in zip(transitions, refs, strict=True):
                outbox.add_alarm(
                    self.conn,
                    gateway=gateway_id,
                    device=t.device,
                    point=t.point,
                    alarm_ref=ref,
                    created_ms=created,
                )

        self._commit(write)
        self._polls = self._polls[len(polls) :]
        self._committed()

    def _commit(self, write: Callable[[], None]) -> None:
        """Run `write` in one transaction. When the disk (or the database) is full,
        drop old telemetry to make room and try once more: an alarm outranks history."""
        for attempt in (1, 2):
            try:
                with transaction(self.conn):
                    write()
                return
            except sqlite3.OperationalError as err:
                if "full" not in str(err) or attempt == 2:
                    raise StoreError(f"cannot write buffer database {self.path}: {err}") from err
                used = limits.used_bytes(self.conn)
                log.debug("buffer write failed, making room path=%s reason=%s", self.path, err)
                self.enforce_cap(int(used * 0.8))

    # -- the uplink's side ---------------------------------------------------------------

    def pending(self, limit: int, after_seq: int = 0) -> list[OutboxRow]:
        """Up to `limit` messages with seq > after_seq, in seq order, sealing more if needed."""
        rows = outbox.sealed(self.conn, after_seq, limit)
        if len(rows) < limit and outbox.has_open(self.conn):
            counts: list[int] = []
            sep = self.codec.separator

            def seal() -> None:
                counts.append(
                    outbox.seal(self.conn, limit - len(rows), self.max_message_bytes, sep)
                )

            try:
                self._commit(seal)
            except StoreError as err:
                # Disk full: what is sealed can still go out; the rest waits for room.
                log.debug("cannot seal more messages reason=%s", err)
                return rows
            if counts[-1]:
                after = rows[-1].seq if rows else after_seq
                rows += outbox.sealed(self.conn, after, limit - len(rows))
        return rows

    def delete(self, seqs: Sequence[int]) -> None:
        """Forget acknowledged messages."""
        if seqs:
            try:
                with transaction(self.conn):
                    outbox.delete(self.conn, seqs)
            except sqlite3.OperationalError as err:
                raise StoreError(f"cannot write buffer database {self.path}: {err}") from err

    def depth(self) -> int:
        """Messages still owed to the platform (buffered polls included)."""
        d = outbox.depth(self.conn)
        return d["alarm"] + d["telemetry"] + len(self._polls)

    def active_alarms(self) -> list[AlarmTransition]:
        return alarms.active(self.conn)

    def recent_alarms(self, n: int) -> list[AlarmTransition]:
        return alarms.recent(self.conn, n)

    def raised_at(self, alarm_ids: Sequence[str]) -> dict[str, int]:
        return alarms.raised_at(self.conn, alarm_ids)

    def oldest_unsent_ts(self) -> int | None:
        """When the oldest message still owed to the platform was stored (or buffered)."""
        stored = outbox.oldest_created_ms(self.conn)
        buffered = self._polls[0][0].ts_ms if self._polls else None
        return min((t for t in (stored, buffered) if t is not None), default=None)

    def stats(self) -> dict[str, int]:
        d = outbox.depth(self.conn)
        return {
            "pending_alarms": d["alarm"],
            "pending_telemetry": d["telemetry"],
            "pending_readings": d["readings"],
            "next_seq": counters.next_seq(self.conn),
            "dropped_messages": counters.get(self.conn, "dropped_messages"),
            "dropped_readings": counters.get(self.conn, "dropped_readings"),
        }

    # -- limits ------------------------------------------------------------------------

    def enforce_cap(self, max_bytes: int) -> limits.Trimmed:
        """Bring the buffer under `max_bytes`: delivered history first, then the oldest
        owed telemetry (dropped and counted). Alarms are kept."""
        trimmed = limits.enforce_cap(self.conn, max_bytes)
        if trimmed.dropped_messages and not self._dropping:
            self._dropping = True
            log.warning(
                "buffer full, dropping oldest telemetry max_mb=%.1f dropped_messages=%d "
                "dropped_readings=%d",
                max_bytes / 1e6,
                trimmed.dropped_messages,
                trimmed.dropped_readings,
            )
        elif self._dropping and not trimmed.dropped_messages:
            self._dropping = False
            log.info(
                "buffer below its cap again dropped_messages_total=%d",
                counters.get(self.conn, "dropped_messages"),
            )
        if trimmed.over_cap:
            log.debug("buffer over its cap with nothing left to drop but alarms")
        return trimmed

    def prune(self, retention_s: float) -> int:
        """Forget delivered readings and cleared alarms older than `retention_s`."""
        return limits.prune_history(self.conn, now_ms() - int(retention_s * 1000))

    def save_baselines(self, learned: baselines.Learned) -> int:
        """Keep what detection learned (one transaction); returns the pairs saved."""
        n = 0

        def write() -> None:
            nonlocal n
            n = baselines.save(self.conn, learned, now_ms())

        self._commit(write)
        return n

    def load_baselines(self) -> dict[tuple[str, str], dict[str, Any]]:
        return baselines.load(self.conn)

    def size_bytes(self) -> int:
        return limits.used_bytes(self.conn)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.conn.close()


def _open_checked(path: Path) -> sqlite3.Connection:
    """Open, verify the pages and bring the schema up to date; DatabaseError if damaged."""
    conn = connect(path)
    try:
        result = conn.execute("PRAGMA quick_check").fetchone()[0]
        if result != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {result}")
        migrations.migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _is_damage(err: sqlite3.DatabaseError) -> bool:
    """Corrupt or not a database: worth moving aside. Locked, unreadable or full is not:
    moving a healthy file away would lose what it owes."""
    name = getattr(err, "sqlite_errorname", "")
    return name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or str(err).startswith("quick_check:")


def _move_aside(path: Path, reason: str) -> Recovery:
    stamp = now_ms()
    moved_to = path.with_name(f"{path.name}.corrupt-{stamp}")
    path.rename(moved_to)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(moved_to.with_name(moved_to.name + suffix))
    return Recovery(moved_to, reason)
