"""Which bus a technician's `read` or `scan` goes through: always the daemon's own bus
queue when the line is one it polls, so a one-shot request never collides with polling
on a half-duplex RS-485 line; a connection of its own for a line nobody polls (a bus
with no devices yet, an ad-hoc target, or no daemon at all: ops.direct)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from drivers.bus import BusLine, open_bus
from drivers.settings import BusConfig
from edge_agent.errors import validation_brief
from edge_agent.ops.errors import OpError
from edge_agent.ops.state import GatewayBuses
from edge_agent.ops.status import bus_target

_BUS = TypeAdapter(BusConfig)


def _own_settings(cfg: BusConfig, timeout_s: float | None) -> BusConfig:
    """A line opened for one request: with a per-request timeout, one attempt of that."""
    if timeout_s is None:
        return cfg
    return cfg.model_copy(update={"timeout_s": timeout_s, "retries": 0})


@contextlib.asynccontextmanager
async def bus_for(
    gw: GatewayBuses,
    bus: str | None,
    target: Mapping[str, Any] | None,
    *,
    timeout_s: float | None = None,
) -> AsyncIterator[tuple[BusLine, str, str]]:
    """The configured `bus`, or the one serving an ad-hoc `target`, or a connection of
    its own to that target. Yields (bus, name, target text)."""
    if bus is not None:
        cfg = next((b for b in gw.cfg.buses if b.name == bus), None)
        if cfg is None:
            known = ", ".join(b.name for b in gw.cfg.buses) or "none"
            raise OpError(f"no bus {bus!r} on this gateway (buses: {known})")
        if bus in gw.buses:
            yield gw.buses[bus], bus, bus_target(cfg)
            return
        async with open_bus(_own_settings(cfg, timeout_s)) as line:
            yield line, bus, bus_target(cfg)  # configured, polled by nobody
        return
    if target is None:
        raise OpError("give a configured `bus` or an ad-hoc `target`")
    try:
        cfg = _BUS.validate_python({"name": "adhoc", **target})
    except ValidationError as err:
        raise OpError(f"bad target {validation_brief(err, limit=1)}") from err
    text = bus_target(cfg)
    for b in gw.cfg.buses:
        if bus_target(b).split()[0] == text.split()[0] and b.name in gw.buses:
            yield gw.buses[b.name], b.name, bus_target(b)  # same line: use its queue
            return
    async with open_bus(_own_settings(cfg, timeout_s)) as line:
        yield line, "adhoc", text
