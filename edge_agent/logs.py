"""Log set-up: one line per event, key=value (default) or JSON, readable in journald.

Only the CLI calls `setup_logging`; modules just use `logging.getLogger(__name__)`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Literal

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


def setup_logging(level: str = "info", fmt: LogFormat = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(_TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library chatter stays out of the operator's log unless asked for.
    for noisy in ("pymodbus", "numba", "asyncio", "aiomqtt"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


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
