"""Operating modes by date: `[[gateway.mode_schedule]]` windows in the gateway's local time."""

from __future__ import annotations

import datetime as dt

from edge_agent.config import GatewaySection, ModeWindow


def in_window(w: ModeWindow, today: dt.date) -> bool:
    md = today.strftime("%m-%d")
    if w.from_ <= w.to:
        return w.from_ <= md <= w.to
    return md >= w.from_ or md <= w.to  # wraps the new year


def scheduled_mode(gw: GatewaySection, today: dt.date | None = None) -> str | None:
    """The mode the schedule wants today: the first matching window's, else the
    configured default; None when there is no schedule at all."""
    if not gw.mode_schedule:
        return None
    day = today or dt.date.today()
    return next((w.mode for w in gw.mode_schedule if in_window(w, day)), gw.mode)
