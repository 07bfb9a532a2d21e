"""`[[gateway.mode_schedule]]`: operating modes by date range."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from edge_agent.config.base import ConfigModel, TopicWord

MonthDay = Annotated[str, Field(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]


class ModeWindow(ConfigModel):
    """`[[gateway.mode_schedule]]`: an operating mode for a yearly date range (local time),
    e.g. flood season 06-01..09-30; a range may wrap the new year (11-15..02-28)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    mode: TopicWord
    from_: MonthDay = Field(alias="from")
    to: MonthDay
