from __future__ import annotations

from drivers.errors import DeviceException, exception_name


def test_exception_codes_are_named_and_the_reason_stays_the_code() -> None:
    err = DeviceException(2, "bus b unit 1: device answered exception code 2")
    assert (err.code, err.reason, err.name) == (2, "exception code 2", "illegal data address")
    assert exception_name(11) == "gateway target device failed to respond"
    assert exception_name(99) == "not a standard exception code"
