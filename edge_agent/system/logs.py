"""Log set-up: one line per event, key=value (default) or JSON, readable in journald.

Only the CLI calls `setup_logging`; modules just use `logging.getLogger(__name__)`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from typing import IO, Literal

LogFormat = Literal["text", "json"]

# journald shows its own timestamp; a terminal needs one.
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


# sd-daemon(3) priority prefixes: journald strips them and files the line at that
# level, so `journalctl -u edge-agent -p warning` shows warnings and worse.
_SYSLOG_PRIORITY = {"CRITICAL": 2, "ERROR": 3, "WARNING": 4, "INFO": 6, "DEBUG": 7}
# Under journald the journal adds the time; a second timestamp is noise.
_JOURNAL_TEXT = "%(levelname)s %(name)s: %(message)s"


class JournalFormatter(logging.Formatter):
    """Prefix each line with its syslog priority (`<4>`), for journald."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        prio = _SYSLOG_PRIORITY.get(record.levelname, 6)
        # One event, one journal entry: continuation lines (a traceback) keep the level.
        return "\n".join(f"<{prio}>{line}" for line in self.inner.format(record).split("\n"))


def stderr_is_journal(env: Mapping[str, str] | None = None, stream: IO[str] | None = None) -> bool:
    """True when stderr is systemd's journal stream ($JOURNAL_STREAM names its dev:inode)."""
    env = os.environ if env is None else env
    stream = sys.stderr if stream is None else stream
    value = env.get("JOURNAL_STREAM", "")
    if not value:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return value == f"{st.st_dev}:{st.st_ino}"


def setup_logging(level: str = "info", fmt: LogFormat = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    journal = stderr_is_journal()
    formatter: logging.Formatter
    if fmt == "json":
        formatter = JsonFormatter()
    else:
        formatter = logging.Formatter(_JOURNAL_TEXT if journal else _TEXT)
    handler.setFormatter(JournalFormatter(formatter) if journal else formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library chatter stays out of the operator's log unless asked for.
    for noisy in ("numba", "asyncio", "aiomqtt"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # pymodbus logs an ERROR with hex dumps of the last frames for every unanswered
    # request; each of those faults reaches the agent as an exception, and the poller
    # says it once per episode. Only --log-level debug lets pymodbus speak (frames too).
    debugging = root.level <= logging.DEBUG
    logging.getLogger("pymodbus").setLevel(logging.DEBUG if debugging else logging.CRITICAL)


class Episode:
    """Log a fault once when it starts and once when it ends, DEBUG in between."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.active = False

    def fault(self, msg: str, *args: object) -> None:
        level = logging.DEBUG if self.active else logging.WARNING
        self.active = True
        self.log.log(level, msg, *args)

    def recovered(self, msg: str, *args: object) -> None:
        if self.active:
            self.active = False
            self.log.info(msg, *args)
