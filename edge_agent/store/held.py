"""Polls waiting in memory for their commit, with a bound for when the disk is full.

Normally this holds one `commit_interval_s` of polls. When the disk is full the
commits fail and polls would pile up without end (and, once space came back, refill it
at once), so it holds at most `max_readings`: beyond that the oldest polls go first,
counted. The count reaches the database (`dropped_messages`, `dropped_readings`, and a
gap in `seq` of one per dropped message, as the size cap leaves) with the next commit
that succeeds. Alarms are never held here: `pipeline.commit` keeps them, all of them.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field

from edge_agent.records import DevicePoll, Reading
from edge_agent.store import seq as counters

log = logging.getLogger(__name__)

DEFAULT_MAX_HELD_READINGS = 50_000  # about 10 MB of Reading objects


@dataclass
class HeldPolls:
    max_readings: int = DEFAULT_MAX_HELD_READINGS
    # (poll, gateway id, the readings reported as telemetry: the outbox message's)
    polls: list[tuple[DevicePoll, str, tuple[Reading, ...]]] = field(default_factory=list)
    readings: int = 0
    # dropped here and not yet counted in the database
    dropped_messages: int = 0
    dropped_readings: int = 0
    _dropping: bool = False
    _episode_dropped: int = 0  # readings dropped since dropping began, for the log

    def __len__(self) -> int:
        return len(self.polls)

    def add(self, poll: DevicePoll, gateway_id: str, reported: tuple[Reading, ...]) -> None:
        self.polls.append((poll, gateway_id, reported))
        self.readings += len(poll.readings)
        if self.readings > self.max_readings:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        n = 0
        while self.readings > self.max_readings and len(self.polls) > 1:
            poll, _, reported = self.polls[n]
            n += 1
            self.readings -= len(poll.readings)
            self._episode_dropped += len(poll.readings)
            if reported:  # a telemetry message the platform will not get: a seq gap
                self.dropped_messages += 1
                self.dropped_readings += len(reported)
        del self.polls[:n]
        if not self._dropping:
            self._dropping = True
            log.warning(
                "readings cannot be stored (disk full?), dropping the oldest held in memory "
                "max_held_readings=%d",
                self.max_readings,
            )

    def taken(self, n: int) -> None:
        """The first `n` polls were committed."""
        self.readings -= sum(len(p.readings) for p, _, _ in self.polls[:n])
        del self.polls[:n]
        if self._dropping and self.readings <= self.max_readings // 2:
            self._dropping = False
            log.info("readings stored again dropped_readings=%d", self._episode_dropped)
            self._episode_dropped = 0

    def count_drops(self, conn: sqlite3.Connection) -> tuple[int, int]:
        """Write the drops into the database (the caller's transaction); returns what was
        written, for `counted` once the transaction commits."""
        msgs, n = self.dropped_messages, self.dropped_readings
        if msgs:
            counters.add(conn, "dropped_messages", msgs)
            counters.add(conn, "dropped_readings", n)
            counters.set_next_seq(conn, counters.next_seq(conn) + msgs)
        return msgs, n

    def counted(self, written: tuple[int, int]) -> None:
        self.dropped_messages -= written[0]
        self.dropped_readings -= written[1]
