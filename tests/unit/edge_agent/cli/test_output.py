"""The cell formats every view uses, and tables with or without a mark for empty cells."""

from __future__ import annotations

import pytest

from edge_agent.cli import output


@pytest.mark.parametrize(
    ("ms", "expected"),
    [
        (0, "0s"),
        (59_999, "59s"),
        (60_000, "1m00s"),
        (3_599_000, "59m59s"),
        (3_600_000, "1h00m"),
        (86_399_000, "23h59m"),
        (90_000_000, "1d01h"),
        (-5, "0s"),
    ],
)
def test_durations_stay_short(ms: int, expected: str) -> None:
    assert output.format_duration(ms) == expected


def test_values_nan_bool_and_float_formatting() -> None:
    assert output.format_value(float("nan"), "MPa") == "nan MPa"
    assert output.format_value(None) == "nan"
    assert output.format_value(True) == "true"
    assert output.format_value(0.1 + 0.2) == "0.3"
    assert output.format_bytes(999) == "999 B"
    assert output.format_bytes(12_345_678) == "12.3 MB"


def test_tables_mark_empty_cells_for_views_and_leave_them_blank_on_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [("pt-101", None), ("pt-102", 3)]
    assert output.format_table(rows, ("DEVICE", "UNIT")) == [
        "DEVICE  UNIT",
        "------  ----",
        "pt-101  -",
        "pt-102  3",
    ]
    output.print_table(rows, ("device", "unit"))
    assert capsys.readouterr().out == "device  unit\n------  ----\npt-101\npt-102  3\n"
