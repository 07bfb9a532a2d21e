"""LineSensor without a serial port: the line it prints."""

from __future__ import annotations

from drivers.profiles import load_profiles
from drivers.serial_line import parse_line
from fieldsim.line import LineSensor

MAXBOTIX = load_profiles([])["maxbotix-hrxl-serial"]


def test_rendered_line_parses_back_to_the_signal() -> None:
    sensor = LineSensor(MAXBOTIX, "R{distance:04.0f}", {"distance": 1.234})
    line = sensor.render().decode("ascii").rstrip("\r\n")
    [value] = parse_line(MAXBOTIX, line)
    assert (value.value, value.quality) == (1.234, "good")


def test_garbage_switch_prints_a_line_that_matches_nothing() -> None:
    sensor = LineSensor(MAXBOTIX, "R{distance:04.0f}")
    sensor.garbage = True
    [value] = parse_line(MAXBOTIX, sensor.render().decode("ascii").strip())
    assert value.quality == "bad"
