"""A synthetic water district (DMA) for detection tests and sweeps: one inlet flow meter and
three pressure points of one zone, a reading a minute.

Not a hydraulic model: the inlet flow follows a daily demand shape (mean 1500 m3/h, swing
+-900), scaled by a day factor drawn in +-`day_spread` and read with 1 % meter noise; the
zone's head falls with demand, pumps switch the whole zone by -0.04 MPa at 06:00 (30 min)
and 18:00 (15 min), and each transmitter adds its own offset and 0.0015 MPa noise. A burst
adds `burst_fraction` of the demand at that moment to the inflow for `burst_s` and pulls
the pressure next to it (pt-1) 0.03 MPa and the others 0.01 MPa down per 10 % of inflow; a
leak adds a constant `leak_m3h` from `leak_from_s` on. Deterministic for a seed.
Local time is UTC+8, as in the packs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DAY_S = 86_400
UTC_OFFSET_S = 8 * 3600
OFFSETS = {"pt-1": 0.0, "pt-2": 0.02, "pt-3": -0.03}
FLOW_KEY = "fm-in/flow"

Row = tuple[int, str, float, int]  # (ts_ms, "device/point", value, good)


def local_midnight_ms(near_ms: int) -> int:
    """The local (UTC+8) midnight at or before `near_ms`."""
    local = near_ms + UTC_OFFSET_S * 1000
    return local - local % (DAY_S * 1000) - UTC_OFFSET_S * 1000


def demand_m3h(t_s: float) -> float:
    hour = ((t_s + UTC_OFFSET_S) / 3600.0) % 24.0
    return 1500.0 + 900.0 * math.sin(2 * math.pi * (hour - 9.0) / 24.0)


def head_mpa(t_s: float) -> float:
    hour = ((t_s + UTC_OFFSET_S) / 3600.0) % 24.0
    pump = -0.04 if 6.0 <= hour < 6.5 or 18.0 <= hour < 18.25 else 0.0
    return 0.45 - 0.08 * demand_m3h(t_s) / 2400.0 + pump


@dataclass(frozen=True)
class Incident:
    """A burst (a share of the demand, for burst_s) or a leak (m3/h, to the end)."""

    start_s: float  # seconds from the first reading
    burst_fraction: float = 0.0
    burst_s: float = 3 * 3600.0
    leak_m3h: float = 0.0


def district_rows(
    t0_ms: int, days: float, seed: int, incident: Incident | None = None,
    day_spread: float = 0.03, step_s: float = 60.0,
) -> list[Row]:  # fmt: skip
    """Readings of the four points from t0_ms for `days`, one every `step_s`."""
    rng = np.random.default_rng(seed)
    n_days = math.ceil(days) + 1
    scale = 1.0 + rng.uniform(-day_spread, day_spread, n_days)
    rows: list[Row] = []
    for k in range(int(days * DAY_S / step_s)):
        t_rel = k * step_s
        t_s = t0_ms / 1000.0 + t_rel
        demand = demand_m3h(t_s)
        flow = demand * scale[int(t_rel // DAY_S)] * (1.0 + 0.01 * rng.standard_normal())
        drop_near = drop_far = 0.0
        if incident is not None and incident.start_s <= t_rel:
            if t_rel < incident.start_s + incident.burst_s and incident.burst_fraction > 0:
                flow += incident.burst_fraction * demand
                drop_near = 0.3 * incident.burst_fraction
                drop_far = 0.1 * incident.burst_fraction
            flow += incident.leak_m3h
        ts = t0_ms + int(t_rel * 1000)
        rows.append((ts, FLOW_KEY, flow, 1))
        for dev, off in OFFSETS.items():
            p = head_mpa(t_s) + off + rng.normal(0.0, 0.0015)
            p -= drop_near if dev == "pt-1" else drop_far
            rows.append((ts, f"{dev}/pressure", p, 1))
    return rows
