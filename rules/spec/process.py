"""Process kinds: what the measured quantity itself does (levels crossed, fast change,
a limit due soon, rain depth, night flow). Their alarms are about the network, not the sensor.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Literal

from pydantic import Field, model_validator

from rules.spec.base import (
    BoundRule,
    Finite,
    LevelNo,
    NonNeg,
    Positive,
    PosSeconds,
    RelativeRule,
    Seconds,
    SpecModel,
)


class Level(SpecModel):
    level: LevelNo
    limit: Finite
    on_delay_s: Seconds | None = None  # None: the rule's on_delay_s


class ThresholdRule(RelativeRule):
    kind: Literal["threshold"]
    direction: Literal["above", "below"]
    levels: Annotated[list[Level], Field(min_length=1, max_length=4)]
    hysteresis: NonNeg = 0.0
    on_delay_s: Seconds = 0.0
    off_delay_s: Seconds = 0.0

    @model_validator(mode="after")
    def _levels_ordered(self) -> ThresholdRule:
        seen = [lv.level for lv in self.levels]
        if len(set(seen)) != len(seen):
            raise ValueError(f"levels: each level (1-4) at most once, got {seen}")
        # More severe (lower number) must be further out: higher for above, lower for below.
        by_sev = sorted(self.levels, key=lambda lv: lv.level)
        for a, b in itertools.pairwise(by_sev):
            worse = a.limit > b.limit if self.direction == "above" else a.limit < b.limit
            if not worse:
                cmp = "above" if self.direction == "above" else "below"
                raise ValueError(
                    f"levels: level {a.level} (more severe) must lie {cmp} level {b.level}: "
                    f"{a.limit} vs {b.limit}"
                )
        return self


class RateRule(RelativeRule):
    """A change of at least `delta` within `window_s` (from the window's extreme to now)."""

    kind: Literal["rate"]
    direction: Literal["falling", "rising"]
    delta: Positive
    window_s: PosSeconds
    level: LevelNo = 4
    on_delay_s: Seconds = 0.0
    off_delay_s: Seconds = 0.0
    despike: bool = False  # a one-reading spike never becomes the window's reference


class TrendRule(RelativeRule):
    """Least-squares slope over `window_s`; raised while the limit is due within `horizon_s`."""

    kind: Literal["trend"]
    direction: Literal["above", "below"]
    limit: Finite
    window_s: PosSeconds
    horizon_s: PosSeconds
    level: LevelNo = 3
    min_samples: Annotated[int, Field(ge=3, le=10_000)] = 4
    min_slope_per_h: NonNeg = 0.0  # ignore slopes flatter than this (units per hour)
    on_delay_s: Seconds = 0.0
    off_delay_s: Seconds = 0.0
    despike: bool = False  # fit min(x, previous x) (max when below): lone spikes stay out


class AccumulationRule(BoundRule):
    """The sum of readings over `window_s` (rainfall depth) reaching `limit`."""

    kind: Literal["accumulation"]
    window_s: PosSeconds
    limit: Finite
    level: LevelNo = 4
    off_delay_s: Seconds = 0.0


class NightFlowRule(BoundRule):
    """Minimum night flow (slow leaks): tonight's minimum of the smoothed flow in
    [night_start_h, night_end_h) local time against the median of the last `history` nights."""

    kind: Literal["night_flow"]
    night_start_h: Annotated[float, Field(ge=0, lt=24)] = 2.0
    night_end_h: Annotated[float, Field(ge=0, lt=24)] = 4.0
    utc_offset_h: Annotated[float, Field(ge=-12, le=14)] = 8.0
    smooth_s: PosSeconds = 900.0
    rise_fraction: NonNeg = 0.15
    rise_abs: NonNeg = 0.0
    min_nights: Annotated[int, Field(ge=1, le=31)] = 2
    history: Annotated[int, Field(ge=1, le=31)] = 7
    nights: Annotated[int, Field(ge=1, le=31)] = 2
    level: LevelNo = 3

    @model_validator(mode="after")
    def _window(self) -> NightFlowRule:
        if self.night_start_h == self.night_end_h:
            raise ValueError("night_start_h and night_end_h must differ")
        if self.min_nights > self.history:
            raise ValueError("min_nights must not exceed history")
        return self
