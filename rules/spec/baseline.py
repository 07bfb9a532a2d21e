"""The `baseline` kind: a point against what it usually reads at this time of day."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from rules.spec.base import BoundRule, Finite, LevelNo, NonNeg, Positive, PosSeconds, Seconds


class BaselineRule(BoundRule):
    """Residual against a time-of-day baseline learned online from the point's own history.

    Per slot of `slot_s` (15 min) and day type (weekday / weekend when `weekends`), the
    expected value and its robust spread, learned over about `learn_days` days. Raised when
    the reading is beyond the expected value by `n_sigma` spreads, by at least `min_delta`
    (in the point's unit) and by `min_fraction` of the expected value (the amount that
    matters for the district, e.g. 5 % of its inflow). Until a
    slot has `min_days` days learned (cold start), `cold_limit` (a fixed limit, in the
    point's unit) decides instead, or nothing does when it is not given. Samples taken
    while the alarm is pending or active are not learned, so a lasting leak stays alarmed
    until the data returns (or the alarm is acknowledged as repaired).
    """

    kind: Literal["baseline"]
    direction: Literal["above", "below"]
    n_sigma: Positive = 4.0
    min_delta: NonNeg = 0.0
    min_fraction: NonNeg = 0.0  # and at least this share of the expected value (5 % = 0.05)
    sigma_min: Positive = 1e-6  # floor of the spread, in the point's unit (quantisation)
    slot_s: Annotated[float, Field(ge=60, le=21_600)] = 900.0
    weekends: bool = True
    utc_offset_h: Annotated[float, Field(ge=-12, le=14)] = 8.0
    learn_days: Annotated[int, Field(ge=1, le=365)] = 14
    min_days: Annotated[int, Field(ge=1, le=60)] = 3
    cold_limit: Finite | None = None
    on_delay_s: Seconds = 0.0
    off_delay_s: Seconds = 0.0
    level: LevelNo = 3
    # "peers": the residual is taken of the reading minus the median of the latest readings
    # of the rule's other points (sharing the `peers_scope` tag value): pumps and tanks move
    # a pressure zone together, a burst moves the points near it more (as `drift` does)
    against: Literal["self", "peers"] = "self"
    peers_scope: str | None = None
    peer_max_age_s: PosSeconds = 300.0
    max_peers: Annotated[int, Field(ge=1, le=32)] = 8

    @model_validator(mode="after")
    def _slots(self) -> BaselineRule:
        if 86_400 % self.slot_s:
            raise ValueError(f"slot_s must divide a day (86400 s), got {self.slot_s:g}")
        return self
