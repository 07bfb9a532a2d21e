"""Driver errors. The poller turns every DriverError into a bad-quality reading."""

from __future__ import annotations


class DriverError(Exception):
    """Base of every field-bus fault. `reason` is the short text carried by readings."""

    reason = "driver error"


class BusTimeout(DriverError):  # noqa: N818 - names fixed by docs/architecture.md
    """No (complete) answer in time, or the link is down: the transport channel."""

    reason = "timeout"


# Modbus exception codes (Modbus application protocol v1.1b3, section 7), as a
# technician reads them.
EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


def exception_name(code: int) -> str:
    """'illegal data address' for 2; codes outside the standard say so."""
    return EXCEPTION_NAMES.get(code, "not a standard exception code")


class DeviceException(DriverError):  # noqa: N818 - names fixed by docs/architecture.md
    """The device answered with a Modbus exception response: the device channel.

    `reason` stays "exception code N" (readings and payloads carry it); `name` says it
    in words for a technician."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.reason = f"exception code {code}"
        self.name = exception_name(code)
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
