"""Parsing ASCII sensor lines through a profile's line format (pure, no port)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from drivers.device import read_device
from drivers.errors import ProfileError
from drivers.profiles import Profile, load_profiles
from drivers.serial_line import parse_line

MAXBOTIX = load_profiles([])["maxbotix-hrxl-serial"]


def line_profile(line: dict[str, Any], points: list[dict[str, Any]]) -> Profile:
    return Profile.model_validate(
        {
            "id": "t",
            "manufacturer": "m",
            "model": "m",
            "source": "s",
            "protocol": "line",
            "line": line,
            "points": [{"quantity": "level", **p} for p in points],
        }
    )


def test_maxbotix_line() -> None:
    [v] = parse_line(MAXBOTIX, "R1234")
    assert (v.name, v.value, v.quality) == ("distance", pytest.approx(1.234), "good")
    [v] = parse_line(MAXBOTIX, "R0299")
    assert (v.quality, v.reason) == ("uncertain", "slightly out of range")
    [v] = parse_line(MAXBOTIX, "Rxx12")
    assert (v.quality, v.reason) == ("bad", "decode error: line does not match")
    assert math.isnan(v.value)


def test_separator_fields_by_index() -> None:
    p = line_profile(
        {"separator": ","},
        [{"name": "a", "field": "0"}, {"name": "b", "field": "2", "scale": 0.1, "range": [0, 5]}],
    )
    a, b = parse_line(p, "1.5, x, 42")
    assert (a.value, b.value, b.quality) == (1.5, pytest.approx(4.2), "good")
    a, b = parse_line(p, "abc")
    assert (a.reason, b.reason) == (
        "decode error: 'abc' is not a number",
        "decode error: no field 2",
    )


def test_whitespace_split_by_default() -> None:
    p = line_profile({}, [{"name": "a", "field": "1"}])
    [a] = parse_line(p, "L   2.75   OK")
    assert a.value == 2.75


def test_line_profile_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match="not a named group"):
        line_profile({"pattern": "(?P<x>\\d+)"}, [{"name": "a", "field": "y"}])
    with pytest.raises(ValueError, match="0-based index"):
        line_profile({}, [{"name": "a", "field": "level"}])
    with pytest.raises(ValueError, match="not a valid regular expression"):
        line_profile({"pattern": "(?P<x"}, [{"name": "a", "field": "x"}])
    with pytest.raises(ValueError, match="request may only use"):
        line_profile({"request": "{device}"}, [{"name": "a", "field": "0"}])


def test_modbus_profile_needs_addresses_and_line_profile_needs_line(tmp_path: Any) -> None:
    from drivers.profiles import load_profile

    f = tmp_path / "m.toml"
    f.write_text(
        'id = "m"\nmanufacturer = "m"\nmodel = "m"\nsource = "s"\n'
        '[[points]]\nname = "a"\nquantity = "level"\n'
    )
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    assert err.value.problems == [(str(f), "points[0].address", "required key is missing")]
    f.write_text(f.read_text().replace('source = "s"', 'source = "s"\nprotocol = "line"'))
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    assert err.value.problems[0][1] == "line"


async def test_line_profile_on_a_bus_without_lines_is_a_clear_bad_reading() -> None:
    class RegistersOnly:
        name = "modbus-1"

        async def read(self, unit: int, table: str, address: int, count: int) -> list[int]:
            raise AssertionError("a line profile must not read registers")

    values = await read_device(RegistersOnly(), 1, [], MAXBOTIX)  # type: ignore[arg-type]
    assert [(v.quality, v.reason) for v in values] == [("bad", "exception code 1")]
