"""The Store facade: the single source of truth between detection and the uplink.

Readings are buffered in memory and committed at most once per `commit_interval_s`
(one fsync per second instead of one per poll). Alarm transitions are committed at
once, durably, together with any buffered readings, before anything can publish them.

A full disk: a write that fails for want of room drops old owed telemetry to make room
and tries once more; if even that fails (making room needs room too), it raises
StoreError, never a raw sqlite3 error. Alarms then go alone, without the held readings,
and the readings wait in memory within a bound (store.held).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edge_agent.clock import now_ms, t_mono
from edge_agent.records import ActionEvent, AlarmTransition, DevicePoll, Reading
from edge_agent.store import actions, alarms, baselines, limits, outbox, readings
from edge_agent.store import seq as counters
from edge_agent.store.db import transaction
from edge_agent.store.errors import StoreError
from edge_agent.store.fileguard import FileGuard
from edge_agent.store.held import DEFAULT_MAX_HELD_READINGS, HeldPolls
from edge_agent.store.opening import Recovery, open_checked, open_or_recover
from edge_agent.store.outbox import OutboxRow, ReadingsCodec
from edge_agent.store.seqmark import SeqMark, jump_past, mark_path

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 128 * 1024
# How often a write first checks that buffer.db is still the file it has open.
FILE_CHECK_S = 1.0


class Store:
    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        *,
        codec: ReadingsCodec,
        commit_interval_s: float = 1.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        mark: SeqMark | None = None,
        file_check_s: float = FILE_CHECK_S,
        max_held_readings: int = DEFAULT_MAX_HELD_READINGS,
    ) -> None:
        self.conn = conn
        self.path = path
        self.codec = codec
        self.commit_interval_s = commit_interval_s
        self.max_message_bytes = max_message_bytes
        self._held = HeldPolls(max_held_readings)
        self._last_commit = t_mono()
        self._listeners: list[Callable[[], None]] = []
        self.recovery: Recovery | None = None
        self._dropping = False
        self.mark = mark if mark is not None else SeqMark(mark_path(path))
        self._guard = FileGuard(path, file_check_s)

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        codec: ReadingsCodec,
        commit_interval_s: float = 1.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        file_check_s: float = FILE_CHECK_S,
        max_held_readings: int = DEFAULT_MAX_HELD_READINGS,
    ) -> Store:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            mark = SeqMark(mark_path(path))
            conn, recovery = open_or_recover(path, mark)
            jump_past(conn, mark.value, path)
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"cannot open buffer database {path}: {err}") from err
        store = cls(
            conn,
            path,
            codec=codec,
            commit_interval_s=commit_interval_s,
            max_message_bytes=max_message_bytes,
            mark=mark,
            file_check_s=file_check_s,
            max_held_readings=max_held_readings,
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

    def add_poll(
        self, poll: DevicePoll, gateway_id: str, reported: Sequence[Reading] | None = None
    ) -> None:
        """Buffer one device poll: its readings rows (all of them: local history) and one
        telemetry message of `reported` (default: the poll's readings; empty: none).

        `reported` may hold readings of earlier polls too (a batch the reporting policy
        held back). Written at the next flush, which happens here once
        `commit_interval_s` has passed since the last commit, or in `flush()` /
        `add_alarms()`.
        """
        chosen = poll.readings if reported is None else tuple(reported)
        self._held.add(poll, gateway_id, chosen)
        if t_mono() - self._last_commit >= self.commit_interval_s:
            self.flush()

    def flush(self) -> int:
        """Commit buffered polls now; returns how many were written."""
        if not self._held:
            return 0
        polls = list(self._held.polls)
        drops: list[tuple[int, int]] = []

        def write() -> None:
            drops.append(self._held.count_drops(self.conn))
            self._write_polls(polls)

        self._commit(write)
        self._held.counted(drops[-1])
        self._held.taken(len(polls))
        self._committed()
        return len(polls)

    def flush_due(self) -> bool:
        """Whether buffered polls have waited `commit_interval_s` (for a periodic flusher)."""
        return bool(self._held) and t_mono() - self._last_commit >= self.commit_interval_s

    def _write_polls(self, polls: Sequence[tuple[DevicePoll, str, tuple[Reading, ...]]]) -> None:
        created = now_ms()
        for poll, gateway, reported in polls:
            lo = readings.insert(self.conn, poll.readings) if poll.readings else None
            if not reported:
                continue
            if lo is None:
                lo = readings.next_id(self.conn)
            outbox.add_telemetry(
                self.conn,
                gateway=gateway,
                device=poll.device,
                fragment=self.codec.encode(reported),
                n=len(reported),
                reading_lo=lo,
                created_ms=created,
            )

    def add_alarms(self, transitions: Sequence[AlarmTransition], gateway_id: str) -> None:
        """Commit alarm rows and their outbox messages durably, in one transaction.

        Buffered readings go in the same transaction, so history stays in time order.
        Raises StoreError only if the alarm cannot be written even after making room.
        When the disk has room for the alarms but not for the readings held with them,
        the alarms go alone and the readings stay held.
        """
        if not transitions and not self._held:
            return
        if not transitions:
            self.flush()
            return
        created = now_ms()
        polls = list(self._held.polls)
        drops: list[tuple[int, int]] = []

        def write_alarms() -> None:
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

        def write() -> None:
            drops.append(self._held.count_drops(self.conn))
            self._write_polls(polls)
            write_alarms()

        try:
            self._commit(write)
        except StoreError:
            if not polls:
                raise
            self._commit(write_alarms)  # an alarm outranks the readings held with it
        else:
            self._held.counted(drops[-1])
            self._held.taken(len(polls))
        self._committed()

    def begin_action(self, event: ActionEvent) -> int:
        """Note a write about to be made (state pending), durably, before its frame goes
        out; returns the note's id for `finish_action`. Not published."""
        ids: list[int] = []
        self._commit(lambda: ids.append(actions.insert(self.conn, event)))
        return ids[0]

    def finish_action(self, event: ActionEvent, gateway_id: str, note: int | None = None) -> None:
        """Store a decision and the outbox row owing it to the platform, in one
        transaction (replacing the pending `note`, if any). Raises StoreError."""
        created = now_ms()

        def write() -> None:
            if note is None:
                ref = actions.insert(self.conn, event)
            else:
                actions.update(self.conn, note, event)
                ref = note
            outbox.add_action(self.conn, gateway=gateway_id, device=event.device,
                              point=event.point, action_ref=ref, created_ms=created)  # fmt: skip

        self._commit(write)
        self._committed()

    def actions_taken(self, alarm_ids: Sequence[str]) -> set[tuple[str, str, str]]:
        """(action, alarm_id, device/point) already acted on, for alarms active at start."""
        return actions.taken(self.conn, alarm_ids)

    def pending_actions(self) -> list[tuple[int, ActionEvent]]:
        """Writes noted as under way when the gateway stopped: (note id, event)."""
        return actions.pending(self.conn)

    def recent_actions(self, n: int) -> list[ActionEvent]:
        return actions.recent(self.conn, n)

    def _commit(self, write: Callable[[], None]) -> None:
        """Run `write` in one transaction. When the disk (or the database) is full,
        drop old telemetry to make room and try once more: an alarm outranks history."""
        self._check_file()
        for attempt in (1, 2):
            try:
                with transaction(self.conn):
                    write()
                return
            except sqlite3.Error as err:
                if not _is_full(err) or attempt == 2:
                    raise StoreError(f"cannot write buffer database {self.path}: {err}") from err
                log.debug("buffer write failed, making room path=%s reason=%s", self.path, err)
                try:
                    self.enforce_cap(int(limits.used_bytes(self.conn) * 0.8))
                except sqlite3.Error as room:
                    # Deleting rows needs room in the WAL too: nothing to do but wait.
                    raise StoreError(
                        f"cannot write buffer database {self.path}: {err} "
                        f"(and no room could be made: {room})"
                    ) from err

    # -- the uplink's side ---------------------------------------------------------------

    def take_number(self, series: str) -> int:
        """The next number of a persistent series other than `seq` (the Sparkplug
        uplink's bdSeq, one per connection attempt): returned once, across restarts."""
        key = f"series:{series}"
        taken: list[int] = []

        def write() -> None:
            taken.append(counters.get(self.conn, key))
            counters.add(self.conn, key, 1)

        self._commit(write)
        return taken[0]

    def pending(self, limit: int, after_seq: int = 0) -> list[OutboxRow]:
        """Up to `limit` messages with seq > after_seq, in seq order, sealing more if needed.

        StoreError when the database cannot be read; a full disk only stops sealing."""
        try:
            return self._pending(limit, after_seq)
        except sqlite3.Error as err:
            raise StoreError(f"cannot read buffer database {self.path}: {err}") from err

    def _pending(self, limit: int, after_seq: int) -> list[OutboxRow]:
        rows = outbox.sealed(self.conn, after_seq, limit)
        if len(rows) < limit and outbox.has_open(self.conn):
            counts: list[int] = []
            sep = self.codec.separator

            def seal() -> None:
                counts.append(
                    outbox.seal(self.conn, limit - len(rows), self.max_message_bytes, sep)
                )
                # Before COMMIT hands the seqs out: the mark on disk is past them.
                self.mark.reserve(counters.next_seq(self.conn))

            try:
                self._commit(seal)
            except (StoreError, OSError) as err:
                # Disk full: what is sealed can still go out; the rest waits for room.
                log.debug("cannot seal more messages reason=%s", err)
                return rows
            if counts[-1]:
                after = rows[-1].seq if rows else after_seq
                rows += outbox.sealed(self.conn, after, limit - len(rows))
        return rows

    def jump_seq(self, to: int) -> None:
        """Continue seq from `to` if it is behind (a mark found elsewhere, e.g. the
        broker's retained status, after this gateway lost its buffer and mark file)."""
        jump_past(self.conn, to, self.path)
        self.mark.reserve(counters.next_seq(self.conn))

    def delete(self, seqs: Sequence[int]) -> None:
        """Forget acknowledged messages."""
        if seqs:
            try:
                with transaction(self.conn):
                    outbox.delete(self.conn, seqs)
            except sqlite3.Error as err:
                raise StoreError(f"cannot write buffer database {self.path}: {err}") from err

    def depth(self) -> int:
        """Messages still owed to the platform (buffered polls included)."""
        d = outbox.depth(self.conn)
        return d["alarm"] + d["telemetry"] + d["action"] + len(self._held)

    def active_alarms(self) -> list[AlarmTransition]:
        return alarms.active(self.conn)

    def recent_alarms(self, n: int) -> list[AlarmTransition]:
        return alarms.recent(self.conn, n)

    def raised_at(self, alarm_ids: Sequence[str]) -> dict[str, int]:
        return alarms.raised_at(self.conn, alarm_ids)

    def oldest_unsent_ts(self) -> int | None:
        """When the oldest message still owed to the platform was stored (or buffered)."""
        stored = outbox.oldest_created_ms(self.conn)
        held = self._held.polls
        buffered = held[0][0].ts_ms if held else None
        return min((t for t in (stored, buffered) if t is not None), default=None)

    def stats(self) -> dict[str, int]:
        d = outbox.depth(self.conn)
        return {
            "pending_alarms": d["alarm"],
            "pending_actions": d["action"],
            "pending_telemetry": d["telemetry"],
            "pending_readings": d["readings"],
            "next_seq": counters.next_seq(self.conn),
            "dropped_messages": counters.get(self.conn, "dropped_messages")
            + self._held.dropped_messages,
            "dropped_readings": counters.get(self.conn, "dropped_readings")
            + self._held.dropped_readings,
            "held_readings": self._held.readings,
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
        cutoff = now_ms() - int(retention_s * 1000)
        n = limits.prune_history(self.conn, cutoff)
        with transaction(self.conn):
            n += actions.prune(self.conn, cutoff)
        return n

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
        """Commit what is held, if there is room (a full disk loses only those readings)."""
        try:
            try:
                self.flush()
            except StoreError as err:
                log.error(
                    "readings not stored at close held=%d reason=%s", self._held.readings, err
                )
            # Everything handed out is committed: the mark can be exact (no gap next time).
            self.mark.write(counters.next_seq(self.conn))
        except OSError as err:
            log.warning("seq mark not updated at close path=%s reason=%s", self.mark.path, err)
        finally:
            self.conn.close()

    # -- the file under us -----------------------------------------------------------

    @property
    def file_restores(self) -> int:
        """How often buffer.db was deleted or replaced under us and written back."""
        return self._guard.restores

    def _check_file(self) -> None:
        """Writes to a buffer.db deleted (or replaced) under the running agent would be
        lost at the next start: notice it, and write the database back in place."""
        self.conn = self._guard.check(self.conn, open_checked)


def _is_full(err: sqlite3.Error) -> bool:
    """No room: the disk (SQLITE_FULL, or a write error on a full WAL) or the database."""
    name = getattr(err, "sqlite_errorname", "")
    return "full" in str(err) or name in ("SQLITE_FULL", "SQLITE_IOERR_WRITE")
