"""`scan`: which unit ids answer on a bus, with progress, optionally identified."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator

from drivers.errors import BusClosed
from drivers.identify import scan_units
from edge_agent.ops.args import ScanArgs
from edge_agent.ops.bus_access import bus_for
from edge_agent.ops.errors import OpError
from edge_agent.ops.state import GatewayBuses
from edge_agent.records import Json


async def scan(gw: GatewayBuses, args: ScanArgs) -> AsyncGenerator[Json, None]:
    """One progress item per unit probed, then the result: what answered, and as which
    configured device. A unit that does not answer waits `timeout_s` when given (one
    attempt), else the bus's own timeout and retries."""
    by_unit = {(d.bus, d.unit): d.name for d in gw.cfg.devices}
    found: list[Json] = []
    started = time.monotonic()
    async with bus_for(gw, args.bus, args.target, timeout_s=args.timeout_s) as (
        line,
        name,
        target,
    ):
        probes = scan_units(
            line, args.units, table=args.table, address=args.address,
            identify_unit=args.identify, profiles=dict(gw.profiles), timeout_s=args.timeout_s,
        )  # fmt: skip
        n = 0
        try:
            async for probe in probes:
                n += 1
                if probe.answer is not None:
                    found.append({**probe.as_dict(), "device": by_unit.get((name, probe.unit))})
                yield {"unit": probe.unit, "done": n, "total": len(args.units),
                       "answer": probe.answer}  # fmt: skip
        except BusClosed as err:
            raise OpError(f"bus {name} ({target}) is not open: {err}") from err
    yield {
        "bus": name, "target": target, "scanned": len(args.units),
        "timeout_each_s": args.timeout_s,
        "elapsed_s": round(time.monotonic() - started, 2), "found": found,
    }  # fmt: skip
