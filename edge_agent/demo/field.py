"""The demo's simulated field: four sensors and the signals they follow (a water main
that bursts, a manhole whose methane climbs, a culvert that fills), the manhole's relay
module (its fan and siren), and the gateway config, rule overrides and actions the agent
runs with."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path


def _ramp(t: float, t0: float, t1: float, a: float, b: float) -> float:
    """a before t0, b after t1, smooth in between."""
    if t <= t0:
        return a
    if t >= t1:
        return b
    x = (t - t0) / (t1 - t0)
    return a + (b - a) * (3 * x * x - 2 * x * x * x)


def scenario(rng: random.Random) -> dict[str, Callable[[float], float]]:
    """Signals by device, as functions of seconds since the demo started."""

    def pressure(t: float, depth: float = 0.25, base: float = 0.36) -> float:
        # MPa: a burst at 20 s, isolated and repaired by 100 s; `depth` falls with distance.
        wave = base + 0.01 * math.sin(2 * math.pi * t / 90)
        drop = _ramp(t, 20, 45, 0.0, depth) - _ramp(t, 85, 100, 0.0, depth)
        return wave - drop + rng.gauss(0, 0.001)

    def pressure_far(t: float) -> float:  # the same main, further from the break
        return pressure(t, depth=0.12, base=0.40)

    def methane(t: float) -> float:  # %LEL: a leak into a manhole, then ventilation
        return max(0.0, _ramp(t, 30, 80, 1.5, 30.0) - _ramp(t, 100, 115, 0.0, 29.0)) + abs(
            rng.gauss(0, 0.2)
        )

    def level(t: float) -> float:  # m above invert: a storm fills the culvert, then it drains
        return _ramp(t, 10, 75, 0.35, 2.45) - _ramp(t, 95, 125, 0.0, 2.05) + rng.gauss(0, 0.003)

    def fan_fault(_t: float) -> float:  # the fan's fault contact stays open: no interlock
        return 0.0

    return {"pt-101": pressure, "pt-102": pressure_far, "gd-201": methane, "lv-301": level,
            "io-201": fan_fault}  # fmt: skip


DEVICES = (
    # name, unit, profile, point, tags
    ("pt-101", 1, "generic-pressure-float32", "pressure", {"zone": "dma-3", "asset": "DN300"}),
    ("pt-102", 4, "generic-pressure-float32", "pressure", {"zone": "dma-3", "asset": "DN300"}),
    (
        "gd-201",
        2,
        "generic-gas-lel-int16",
        "methane",
        {"zone": "dma-3", "kind": "manhole", "manhole": "mh-201"},
    ),
    (
        "lv-301",
        3,
        "generic-level-int16",
        "level",
        {"zone": "dma-3", "kind": "culvert", "rim_depth_m": "2.6", "pipe_crown_m": "1.0"},
    ),
    # The manhole's relay module: relay 1 runs the ventilation fan, relay 2 the siren,
    # input 1 is the fan's fault contact.
    ("io-201", 5, "waveshare-modbus-relay-d", "input1", {"manhole": "mh-201"}),
)


# The demo field's deadbands for `--report on-change`: about ten times each sensor's noise.
DEADBANDS = {"pressure": 0.005, "methane_lel": 1.0, "level": 0.02}


def demo_config(
    data_dir: Path,
    modbus_port: int,
    mqtt: tuple[str, int],
    api: str = "edge-agent",
    report: str = "every-poll",
    report_interval_s: float = 0.0,
) -> str:
    bands = ", ".join(f"{q} = {v}" for q, v in DEADBANDS.items())
    lines = [
        "## Written by `edge-agent demo`: simulated devices on loopback.",
        "[gateway]",
        'id = "gw-demo"',
        'site = "demo-city"',
        f'data_dir = "{data_dir}"',
        'rules = ["gas", "water", "drainage", "demo-overrides.toml", "demo-actions.toml"]',
        'actions = "auto"  # write to the (simulated) devices; the default is "dry-run"',
        f'report = "{report}"',
        f"report_interval_s = {report_interval_s}",
        f"deadband = {{ {bands} }}",
        "",
        "[mqtt]",
        f'host = "{mqtt[0]}"',
        f"port = {mqtt[1]}",
        'topic_prefix = "lifeline"',
        f'api = "{api}"',
        "",
        "[[buses]]",
        'name = "sim-tcp"',
        'kind = "modbus-tcp"',
        'host = "127.0.0.1"',
        f"port = {modbus_port}",
        "timeout_s = 0.5",
    ]
    for name, unit, profile, _point, tags in DEVICES:
        tag_text = ", ".join(f'{k} = "{v}"' for k, v in tags.items())
        lines += [
            "",
            "[[devices]]",
            f'name = "{name}"',
            'bus = "sim-tcp"',
            f"unit = {unit}",
            f'profile = "{profile}"',
            "poll_interval_s = 1",
            f"tags = {{ {tag_text} }}",
        ]
    return "\n".join(lines) + "\n"


# Demo time is short: per-point overrides shorten the packs' off-delays so that
# alarms clear within the run (the packs' own delays are minutes long).
DEMO_OVERRIDES = """\
## Per-point overrides for the demo: same limits as the packs, shorter delays.
[[overrides]]
rule = "water.pressure.low"
points = ["pt-10*/pressure"]
on_delay_s = 3
off_delay_s = 5

[[overrides]]
rule = "gas.methane_lel.high"
points = ["gd-201/methane"]
off_delay_s = 5

[[overrides]]
rule = "drain.level.freeboard"
points = ["lv-301/level"]
on_delay_s = 3
off_delay_s = 5

[[overrides]]
rule = "drain.level.surcharge"
points = ["lv-301/level"]
on_delay_s = 3
off_delay_s = 5

## The predictions fit a line over minutes of data; the demo's storm lasts about one.
[[overrides]]
rule = "drain.level.overflow-eta"
points = ["lv-301/level"]
window_s = 30
off_delay_s = 5

[[overrides]]
rule = "drain.level.surcharge-eta"
points = ["lv-301/level"]
window_s = 30
off_delay_s = 5

[[overrides]]
rule = "gas.methane_lel.eta"
points = ["gd-201/methane"]
window_s = 30
off_delay_s = 5
"""


# A gas alarm in a manhole starts its ventilation fan and sounds its siren; the siren
# stops when the alarm clears, the fan keeps running (a crew switches it off).
DEMO_ACTIONS = """\
## The demo's action: fan and siren at the first warning (5 %LEL, within the demo's
## first minute); the siren stops when the alarm clears.
[[actions]]
id = "gas.manhole.ventilate"
on = { rule = "gas.methane_lel.high", level_at_most = 4 }
scope = ["manhole"]
set = [ { point = "relay1", value = 1 }, { point = "relay2", value = 1 } ]
on_clear = [ { point = "relay2", value = 0 } ]
unless = [ { point = "input1", above = 0.5 } ]
min_interval_s = 60
"""
