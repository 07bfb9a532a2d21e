"""`read` and `scan` without a running daemon: the same operations (ops.read, ops.scan)
on a view of the gateway that has the config and the profiles but no open buses, so
each request opens its line itself (ops.bus_access) and closes it after.

Used by the CLI only when no agent answers on the control socket: a daemon that runs
has the serial port open, and its bus queue is the only safe way onto that line.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from drivers.bus import BusLine
from drivers.errors import ProfileError
from drivers.profiles import Profile, load_profiles
from edge_agent.config import GatewayConfig, load_config
from edge_agent.errors import ConfigError, Problem
from edge_agent.ops import read as read_op
from edge_agent.ops import scan as scan_op
from edge_agent.ops.args import ReadArgs, ScanArgs, parse
from edge_agent.records import Json

# The gateway a `read --port ...` or `scan --host ...` works for when there is no config.
ADHOC_GATEWAY = {"gateway": {"id": "adhoc", "site": "adhoc"}}


@dataclass(frozen=True)
class DirectGateway:
    """A GatewayBuses with nothing open: every line is opened for the request."""

    cfg: GatewayConfig
    profiles: Mapping[str, Profile]
    buses: Mapping[str, BusLine] = field(default_factory=dict)


def direct_gateway(config: Path | None) -> DirectGateway:
    """The gateway of `config` (checked as the daemon checks it), or with no config the
    ad-hoc one, which knows the packaged profiles and no bus."""
    if config is None:
        return DirectGateway(GatewayConfig.model_validate(ADHOC_GATEWAY), load_profiles([]))
    cfg = load_config(config)
    try:
        profiles = load_profiles([cfg.resolve(p) for p in cfg.gateway.profiles])
    except ProfileError as err:
        raise ConfigError([Problem(f, loc, m) for f, loc, m in err.problems]) from err
    return DirectGateway(cfg, profiles)


async def read(gw: DirectGateway, params: Mapping[str, object]) -> Json:
    return await read_op.read(gw, parse(ReadArgs, params))


async def scan(gw: DirectGateway, params: Mapping[str, object]) -> AsyncGenerator[Json, None]:
    async for item in scan_op.scan(gw, parse(ScanArgs, params)):
        yield item
