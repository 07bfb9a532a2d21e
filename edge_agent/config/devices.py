"""`[[devices]]`: what is on each bus, how it is polled, and its tags."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from drivers.profiles import UnitId
from drivers.settings import Name
from edge_agent.config.base import ConfigModel
from edge_agent.config.report import Deadband, ReportInterval, ReportMode


def _tag_text(v: object) -> object:
    # `pn_mpa = 0.4` and `pn_mpa = "0.4"` mean the same: rules read tags as text.
    return str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v


TagValue = Annotated[str, BeforeValidator(_tag_text)]


class DeviceConfig(ConfigModel):
    name: Name
    bus: Name
    unit: UnitId = 1
    profile: str
    poll_interval_s: Annotated[float, Field(gt=0, le=86400)] = 5.0
    # Poll this often while one of the device's alarms is active (adaptive polling).
    poll_interval_alarm_s: Annotated[float, Field(gt=0, le=86400)] | None = None
    # Failed polls in a row before the device counts as offline (kind `device` alarm).
    offline_after: Annotated[int, Field(ge=1, le=100)] = 3
    tags: dict[str, TagValue] = Field(default_factory=dict)
    enabled: bool = True
    # Telemetry reporting; unset: the [gateway] default. `deadband` keys are this
    # device's point names or quantities (a point name wins).
    report: ReportMode | None = None
    report_interval_s: ReportInterval | None = None
    deadband: Deadband = Field(default_factory=dict)
