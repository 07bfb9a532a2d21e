"""Counter points: a device's running total becomes the increase since the last poll.

Rules that add up a quantity over hours (rain) want "how much since the previous
reading", while gauges keep a total that restarts at power-up or wraps. Pure: the
caller keeps one Counters per device and feeds it each poll's values in order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from drivers.base import PointValue


@dataclass
class Counters:
    last: dict[str, float] = field(default_factory=dict)

    def increment(self, v: PointValue) -> PointValue:
        """The growth of counter point `v` since its previous good reading.

        The first reading has no previous one (bad, so no rule counts it); a count that
        went down means the device restarted its count from zero, so the new count is
        all that came since (an estimate, hence uncertain)."""
        if v.quality == "bad" or math.isnan(v.value):
            return v  # keep the last good count: the next good one spans the gap
        prev = self.last.get(v.name)
        self.last[v.name] = v.value
        if prev is None:
            return PointValue(v.name, math.nan, "bad", "counter: first reading")
        if v.value < prev:
            return PointValue(v.name, v.value, "uncertain", "counter restarted")
        return PointValue(v.name, v.value - prev, v.quality, v.reason)
