"""Sensor-health kinds: a stuck, out-of-range, spiking, silent or drifting sensor.

Their alarms say the reading cannot be trusted, not that the network misbehaves.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from rules.spec.base import BoundRule, LevelNo, NonNeg, Positive, PosSeconds, Seconds


class FlatlineRule(BoundRule):
    """Stuck sensor: every value within `epsilon` of each other for `duration_s`."""

    kind: Literal["flatline"]
    epsilon: NonNeg
    duration_s: PosSeconds
    level: LevelNo = 4
    except_floor: bool = True  # a dry manhole or no rain sits at range_lo: not a fault


class RangeRule(BoundRule):
    """Out of the sensor's range (PointMeta range_lo/hi, widened by `margin` of full scale)."""

    kind: Literal["range"]
    margin: Annotated[float, Field(ge=0, le=1)] = 0.01
    count: Annotated[int, Field(ge=1, le=1000)] = 3  # consecutive readings out of range
    level: LevelNo = 4


class SpikeRule(BoundRule):
    """Hampel: a reading far from the median of the last `window` that returns within `width`."""

    kind: Literal["spike"]
    window: Annotated[int, Field(ge=3, le=16)] = 5
    n_sigma: Positive = 6.0
    min_delta: NonNeg = 0.0  # never a spike below this deviation (use ~3 quanta)
    width: Annotated[int, Field(ge=1, le=4)] = 2
    count: Annotated[int, Field(ge=1, le=64)] = 5  # spikes within per_s that raise the alarm
    per_s: PosSeconds = 3600.0
    level: LevelNo = 4


class StaleRule(BoundRule):
    """No good reading for `after_s`."""

    kind: Literal["stale"]
    after_s: PosSeconds
    level: LevelNo = 4


class DriftRule(BoundRule):
    """Two-sided CUSUM of standardised deviations from a slow EWMA baseline, reset on alarm."""

    kind: Literal["drift"]
    k_sigma: NonNeg = 0.5
    h_sigma: Positive = 5.0
    tau_s: PosSeconds = 86_400.0  # baseline and variance time constant
    warmup: Annotated[int, Field(ge=2, le=100_000)] = 30  # samples before the first decision
    sigma_min: Positive = 1e-6  # floor on sigma, in the point's unit (use the quantum)
    hold_s: Seconds = 3600.0  # an alarm clears this long after its last CUSUM crossing
    level: LevelNo = 4
    # "peers": the CUSUM runs on the reading minus the median of the latest readings of the
    # rule's other points (sharing the `peers_scope` tag value when given): a drift of one
    # sensor stands out, network-wide moves cancel
    against: Literal["baseline", "peers"] = "baseline"
    peers_scope: str | None = None
    peer_max_age_s: PosSeconds = 300.0
    max_peers: Annotated[int, Field(ge=1, le=32)] = 8  # the next ones in point order, wrapping
