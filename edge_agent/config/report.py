"""Telemetry reporting (PRODUCT.md "Telemetry reporting"): which readings become telemetry.

`report`, `report_interval_s` and `deadband` are set per device and, as the defaults of
every device, in `[gateway]`. Detection never depends on them: every poll is detected on
and kept in the local history; only the telemetry sent upstream is thinned or batched.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

ReportMode = Literal["every-poll", "on-change"]
# Seconds over which a device's reported readings are batched into one message (0: none).
ReportInterval = Annotated[float, Field(ge=0, le=86400)]
# Absolute change (in the point's unit) a reading must exceed to be reported on change.
Deadband = dict[
    Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?$")],
    Annotated[float, Field(ge=0)],
]
