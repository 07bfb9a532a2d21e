"""What a simulated point reads over time: a constant or a function of seconds since start."""

from __future__ import annotations

from collections.abc import Callable

from drivers.profiles import PointSpec

Signal = Callable[[float], float]


def signal_value(spec: PointSpec, signal: Signal | float | None, t: float) -> float:
    """The value of `signal` at `t`; without one, the middle of the point's range (or 0)."""
    if signal is None:
        if spec.range is not None:
            return (spec.range[0] + spec.range[1]) / 2
        return 0.0
    return signal(t) if callable(signal) else float(signal)
