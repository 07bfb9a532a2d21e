"""sd_notify for Type=notify services, in pure Python (no libsystemd binding).

systemd passes `$NOTIFY_SOCKET`: a datagram unix socket, a filesystem path or an
abstract name written with a leading `@`. Each datagram is newline-separated
`KEY=VALUE` assignments: `READY=1` once start-up is done, `STATUS=...` for
`systemctl status`, `WATCHDOG=1` at least every `$WATCHDOG_USEC`, `STOPPING=1`
on the way out. Without `$NOTIFY_SOCKET` (a shell, a test) every call is a no-op.

The watchdog pings come from a task on the daemon's event loop, so a loop that
is blocked (a stuck SQLite write, a runaway kernel) stops pinging and systemd
restarts the service: exactly the failure a thread-based pinger would hide.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping
from types import TracebackType

log = logging.getLogger(__name__)


def _address(raw: str) -> str | bytes:
    # '@name' is the abstract namespace: the kernel wants a leading NUL instead.
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    return raw


class Notifier:
    """Sends sd_notify messages; `enabled` is False when not run by systemd."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.address = env.get("NOTIFY_SOCKET") or None
        self._sock: socket.socket | None = None
        self._failed = False
        if self.address is not None and not (
            self.address.startswith("/") or self.address.startswith("@")
        ):
            log.warning("ignoring NOTIFY_SOCKET: not a path or @name value=%s", self.address)
            self.address = None
        self.watchdog_interval_s = watchdog_interval_s(env)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, **fields: str | int) -> bool:
        """Send `KEY=VALUE` lines (`send(READY=1, STATUS="polling")`). True if delivered.

        Never raises: a missing or full notify socket must not stop the agent, and
        a failure is logged once until a send works again.
        """
        if self.address is None:
            return False
        payload = "\n".join(f"{k}={v}" for k, v in fields.items()).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto(payload, _address(self.address))
        except OSError as err:
            if not self._failed:
                log.warning("sd_notify failed socket=%s error=%s", self.address, err.strerror)
            self._failed = True
            return False
        if self._failed:
            log.info("sd_notify works again socket=%s", self.address)
            self._failed = False
        return True

    def ready(self, status: str | None = None) -> bool:
        if status is None:
            return self.send(READY=1)
        return self.send(READY=1, STATUS=status)

    def status(self, text: str) -> bool:
        return self.send(STATUS=text)

    def watchdog(self) -> bool:
        return self.send(WATCHDOG=1)

    def stopping(self, status: str | None = None) -> bool:
        if status is None:
            return self.send(STOPPING=1)
        return self.send(STOPPING=1, STATUS=status)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def watchdog_interval_s(env: Mapping[str, str] | None = None) -> float | None:
    """How often to ping: half of `$WATCHDOG_USEC` (systemd's own advice), or None when
    the watchdog is off or meant for another process (`$WATCHDOG_PID`)."""
    env = os.environ if env is None else env
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC: not an integer value=%s", env.get("WATCHDOG_USEC"))
        return None
    if usec <= 0:
        return None
    return usec / 2 / 1_000_000


async def run_watchdog(
    notifier: Notifier,
    interval_s: float | None = None,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Ping `WATCHDOG=1` every `interval_s` (default: half of $WATCHDOG_USEC) forever.

    `alive`, if given, is asked before each ping; a False answer skips the ping, so a
    pipeline that has stopped making progress gets restarted as a hung one would.
    Returns at once when there is no watchdog to feed.
    """
    interval_s = notifier.watchdog_interval_s if interval_s is None else interval_s
    if not notifier.enabled or interval_s is None:
        return
    log.debug("watchdog pings every %.3f s", interval_s)
    loop = asyncio.get_running_loop()
    deadline = loop.time()
    while True:
        if alive is None or alive():
            notifier.watchdog()
        else:
            log.warning("watchdog ping withheld: the agent reports it is not making progress")
        deadline += interval_s
        # Deadline scheduling; after a stall, ping now rather than in a burst.
        deadline = max(deadline, loop.time())
        await asyncio.sleep(deadline - loop.time())
