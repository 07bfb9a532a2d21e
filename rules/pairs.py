"""Each kernel paired with its plain-Python reference (as numbagg's COMPARISONS): tests and
bench/kernels.py iterate over this."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rules.kernels import (
    accumulation,
    baseline,
    composite,
    drift,
    flatline,
    night_flow,
    peers,
    rate,
    spike,
    stale,
    threshold,
    trend,
)
from rules.kernels import range as range_
from rules.reference import accumulation as r_accumulation
from rules.reference import baseline as r_baseline
from rules.reference import composite as r_composite
from rules.reference import drift as r_drift
from rules.reference import flatline as r_flatline
from rules.reference import night_flow as r_night_flow
from rules.reference import peers as r_peers
from rules.reference import range as r_range
from rules.reference import rate as r_rate
from rules.reference import spike as r_spike
from rules.reference import stale as r_stale
from rules.reference import threshold as r_threshold
from rules.reference import trend as r_trend

Fn = Callable[..., Any]

PAIRS: dict[str, tuple[Fn, Fn]] = {
    "threshold.step": (threshold.step, r_threshold.step),
    "accumulation.step": (accumulation.step, r_accumulation.step),
    "rate.step": (rate.step, r_rate.step),
    "trend.step": (trend.step, r_trend.step),
    "flatline.step": (flatline.step, r_flatline.step),
    "night_flow.step": (night_flow.step, r_night_flow.step),
    "range.step": (range_.step, r_range.step),
    "spike.step": (spike.step, r_spike.step),
    "stale.step": (stale.step, r_stale.step),
    "stale.tick": (stale.tick, r_stale.tick),
    "drift.step": (drift.step, r_drift.step),
    "peers.residual": (peers.residual, r_peers.residual),
    "baseline.step": (baseline.step, r_baseline.step),
    "composite.step": (composite.step, r_composite.step),
    "composite.tick": (composite.tick, r_composite.tick),
}
