"""SimulatedDevice without a server: what a unit answers, and its fault switches."""

from __future__ import annotations

import pytest
from pymodbus.constants import ExcCodes

from drivers.decode import decode_point
from drivers.profiles import Profile
from fieldsim.modbus_device import SimulatedDevice


def profile(**quirks: object) -> Profile:
    return Profile.model_validate(
        {
            "id": "sim-test",
            "manufacturer": "test",
            "model": "sim",
            "source": "test",
            "quirks": quirks,
            "points": [
                {
                    "name": "pressure",
                    "quantity": "pressure",
                    "address": 0,
                    "type": "float32",
                    "range": [0.0, 1.6],
                },
                {"name": "alarm", "quantity": "state", "address": 4, "type": "bool", "bit": 0},
                {"name": "fault", "quantity": "state", "address": 4, "type": "bool", "bit": 3},
            ],
        }
    )


def test_unset_signal_reads_the_middle_of_the_range() -> None:
    dev = SimulatedDevice(1, profile())
    words = dev.answer("holding", 0, 2)
    assert isinstance(words, list)
    assert decode_point(dev.profile.point("pressure"), words)[0] == pytest.approx(0.8)


def test_constant_and_callable_signals_are_encoded_through_the_profile() -> None:
    dev = SimulatedDevice(1, profile(), {"pressure": 0.35, "alarm": 1.0, "fault": lambda t: 1.0})
    got = dev.answer("holding", 0, 5)
    assert isinstance(got, list)
    assert decode_point(dev.profile.point("pressure"), got[:2])[0] == pytest.approx(0.35)
    assert got[4] == 0b1001  # both bit points merged into one register


def test_forbidden_range_and_strict_mode_answer_illegal_address() -> None:
    dev = SimulatedDevice(1, profile(forbidden=[{"start": 10, "end": 12}]))
    assert dev.answer("holding", 8, 4) == ExcCodes.ILLEGAL_ADDRESS
    assert dev.answer("holding", 5, 2) == [0, 0]  # unmapped reads 0 ...
    dev.strict = True
    assert dev.answer("holding", 5, 2) == ExcCodes.ILLEGAL_ADDRESS  # ... unless strict


def test_exception_switch_and_raw_override() -> None:
    dev = SimulatedDevice(1, profile())
    dev.set_raw("holding", 0, [0x7FC0, 0x0000])  # a NaN pattern
    assert dev.answer("holding", 0, 2) == [0x7FC0, 0]
    dev.exception_code = 4
    assert dev.answer("holding", 0, 2) == ExcCodes.DEVICE_FAILURE


def test_unknown_signal_names_the_profile() -> None:
    with pytest.raises(ValueError, match="sim-test"):
        SimulatedDevice(1, profile(), {"temperature": 20.0})
