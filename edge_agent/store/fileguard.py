"""buffer.db deleted or replaced under a running agent.

SQLite keeps writing to the file it has open, so an agent whose buffer.db was deleted
(a technician freeing space, a wrong `rm`) would go on committing into a file that is
gone at the next start, with every unsent message and the seq counter in it. The store
compares the file at its path with the one it opened (`file_id`) before writing, and
on a difference writes its open database back to the path (`write_back`, with
`VACUUM INTO`), moving a foreign file found there aside.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from edge_agent.clock import now_ms, t_mono

log = logging.getLogger(__name__)


def file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, None if there is none."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def write_back(
    conn: sqlite3.Connection, path: Path, reopen: Callable[[Path], sqlite3.Connection]
) -> sqlite3.Connection:
    """Copy the open database to `path` and return a connection to the copy. Raises
    OSError or sqlite3.Error if the copy cannot be made (a full disk, the folder gone):
    the open connection is then still usable, and the caller tries again later."""
    tmp = path.with_name(path.name + ".restore")
    tmp.unlink(missing_ok=True)
    conn.execute("VACUUM INTO ?", (str(tmp),))
    conn.close()  # its WAL is checkpointed into the old file and removed by name
    try:
        if path.exists():
            path.rename(path.with_name(f"{path.name}.replaced-{now_ms()}"))
        os.replace(tmp, path)
    except OSError as err:
        log.error("cannot put the buffer database back path=%s reason=%s", path, err)
        return reopen(tmp)
    return reopen(path)


class FileGuard:
    """Checks, at most every `check_s`, that buffer.db is still the file the store has
    open, and writes it back when it is not (logged once while a write-back fails)."""

    def __init__(self, path: Path, check_s: float) -> None:
        self.path = path
        self.check_s = check_s
        self.restores = 0  # buffer.db deleted or replaced under us, written back
        self._file = file_id(path)
        self._checked = t_mono()
        self._failing = False

    def check(
        self, conn: sqlite3.Connection, reopen: Callable[[Path], sqlite3.Connection]
    ) -> sqlite3.Connection:
        """The connection to use from now on: `conn`, or one to the written-back file."""
        now = t_mono()
        if now - self._checked < self.check_s:
            return conn
        self._checked = now
        if file_id(self.path) == self._file:
            return conn
        level = logging.DEBUG if self._failing else logging.ERROR
        log.log(level, "buffer database file deleted or replaced under the agent, writing it "
                "back path=%s", self.path)  # fmt: skip
        try:
            conn = write_back(conn, self.path, reopen)  # all of it: no jump
        except (OSError, sqlite3.Error) as err:
            log.log(level, "cannot write the buffer database back, retrying path=%s reason=%s",
                    self.path, err)  # fmt: skip
            self._failing = True
            return conn
        self._failing = False
        self._file = file_id(self.path)
        self.restores += 1
        return conn
