"""Driver errors. The poller turns every DriverError into a bad-quality reading."""

from __future__ import annotations


class DriverError(Exception):
    """Base of every field-bus fault. `reason` is the short text carried by readings."""

    reason = "driver error"


class BusTimeout(DriverError):  # noqa: N818 - names fixed by docs/architecture.md
    """No (complete) answer in time, or the link is down: the transport channel."""

    reason = "timeout"


class DeviceException(DriverError):  # noqa: N818 - names fixed by docs/architecture.md
    """The device answered with a Modbus exception response: the device channel."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.reason = f"exception code {code}"
        super().__init__(message)


class FrameError(DriverError):
    """An answer that cannot be parsed (bad CRC, cut short, wrong length)."""

    reason = "frame error"


class BusClosed(DriverError):  # noqa: N818 - names fixed by docs/architecture.md
    """The bus is not open (port gone, connection refused)."""

    reason = "bus closed"


class ProfileError(Exception):
    """A firmware profile file that cannot be used. Carries (file, loc, msg) problems."""

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        self.problems = problems
        super().__init__(
            "\n".join(f"{f}: {loc}: {m}" if loc else f"{f}: {m}" for f, loc, m in problems)
        )
