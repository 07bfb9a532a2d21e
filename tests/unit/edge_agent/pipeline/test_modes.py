"""Operating modes by date: windows in local time, wrapping the new year."""

from __future__ import annotations

import datetime as dt

import pytest

from edge_agent.config import GatewaySection
from edge_agent.pipeline.modes import scheduled_mode


def section(*windows: tuple[str, str, str]) -> GatewaySection:
    return GatewaySection.model_validate(
        {
            "id": "gw",
            "site": "s",
            "mode": "normal",
            "mode_schedule": [{"mode": m, "from": a, "to": b} for m, a, b in windows],
        }
    )


def test_no_schedule_leaves_the_mode_alone() -> None:
    assert scheduled_mode(section(), dt.date(2026, 7, 1)) is None


@pytest.mark.parametrize(
    ("day", "mode"),
    [
        (dt.date(2026, 5, 31), "normal"),
        (dt.date(2026, 6, 1), "flood-season"),
        (dt.date(2026, 9, 30), "flood-season"),
        (dt.date(2026, 10, 1), "normal"),
        (dt.date(2026, 12, 31), "winter"),
        (dt.date(2027, 1, 15), "winter"),
        (dt.date(2027, 3, 1), "normal"),
    ],
)
def test_windows_pick_the_mode_of_the_day(day: dt.date, mode: str) -> None:
    gw = section(("flood-season", "06-01", "09-30"), ("winter", "12-01", "02-28"))
    assert scheduled_mode(gw, day) == mode


def test_bad_dates_are_config_errors() -> None:
    with pytest.raises(ValueError, match="from"):
        section(("x", "13-01", "02-28"))
