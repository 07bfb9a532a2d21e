"""Which bus a technician's `read` or `scan` goes through: always the daemon's own bus
queue when the line is one it polls, so a one-shot request never collides with polling
on a half-duplex RS-485 line; a temporary connection only for a line it does not use."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from drivers.bus import BusLine, open_bus
from drivers.settings import BusConfig
from edge_agent.errors import validation_brief
from edge_agent.ops.errors import OpError
from edge_agent.ops.state import RunningGateway
from edge_agent.ops.status import bus_target

_BUS = TypeAdapter(BusConfig)


@contextlib.asynccontextmanager
async def bus_for(
    gw: RunningGateway, bus: str | None, target: Mapping[str, Any] | None
) -> AsyncIterator[tuple[BusLine, str, str]]:
    """The configured `bus`, or the one serving an ad-hoc `target`, or a temporary
    connection to that target. Yields (bus, name, target text)."""
    if bus is not None:
        if bus not in gw.buses:
            known = ", ".join(gw.buses) or "none"
            raise OpError(f"no bus {bus!r} on this gateway (buses: {known})")
        yield gw.buses[bus], bus, bus_target(gw.cfg.bus(bus))
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
    async with open_bus(cfg) as line:
        yield line, "adhoc", text
