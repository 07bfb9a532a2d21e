"""The seq high-water mark: kept beside buffer.db, so losing the database cannot reset seq.

`seq` must stay unique for the gateway's life: a platform drops duplicates by it, so a
reused seq throws a real message (an alarm among them) away. The counter lives in the
database (`meta.next_seq`), and a database can be lost: deleted, moved aside when
damaged, or rolled back by a damaged WAL that drops the last commits. So before any
seq is handed out, `buffer.db.seq` (a small text file beside it, written to a temporary
file, fsynced and renamed, the folder fsynced too) says a number no seq handed out has
reached. At open, a database whose `next_seq` is below the mark jumps to it: the
platform sees a gap (loss, which it was) and never a repeated seq.

The mark is written inside the transaction that seals a batch of messages, after
the seal and before its COMMIT (one small fsync per batch, not per message): if it
cannot be written, nothing is sealed. So the mark equals `next_seq` but for a crash
between the two writes, and a normal restart, or one after a crash, leaves no gap.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from pathlib import Path

from edge_agent.store import seq as counters
from edge_agent.store.db import transaction

log = logging.getLogger(__name__)

SUFFIX = ".seq"


def mark_path(db_path: Path) -> Path:
    """Where the mark of the database at `db_path` is kept."""
    return db_path.with_name(db_path.name + SUFFIX)


class SeqMark:
    """The highest seq (exclusive) that may have been handed out, on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.value = self._read()

    def _read(self) -> int:
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        except (OSError, UnicodeDecodeError) as err:
            log.error("seq mark unreadable, ignored path=%s reason=%s", self.path, err)
            return 0
        try:
            return max(0, int(text))
        except ValueError:
            log.error("seq mark damaged, ignored path=%s text=%r", self.path, text[:40])
            return 0

    def reserve(self, upto: int) -> None:
        """Make sure the mark is at least `upto` (seqs below it may be handed out now)."""
        if upto > self.value:
            self.write(upto)

    def write(self, value: int) -> None:
        """Put `value` on disk durably (may lower the mark: only at a clean close)."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            os.write(fd, f"{value}\n".encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        self.value = value


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def jump_past(conn: sqlite3.Connection, mark: int, path: Path) -> None:
    """A database behind the seq mark lost commits or was recreated: jump past it."""
    current = counters.next_seq(conn)
    if current < mark:
        log.warning(
            "seq jumps past its high-water mark path=%s from=%d to=%d "
            "(the buffer lost commits or was recreated)",
            path,
            current,
            mark,
        )
        with transaction(conn):
            counters.set_next_seq(conn, mark)
