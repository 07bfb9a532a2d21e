"""The dialect `[mqtt] api` names."""

from __future__ import annotations

from collections.abc import Sequence

from edge_agent.config import GatewayConfig
from edge_agent.store import Store
from edge_agent.uplink.dialect import Dialect
from edge_agent.uplink.native import NativeDialect
from edge_agent.uplink.sparkplug.node import SparkplugDialect
from edge_agent.uplink.thingsboard import ThingsboardDialect
from rules.events import PointMeta


def make_dialect(
    cfg: GatewayConfig, store: Store, version: str, points: Sequence[PointMeta] = ()
) -> Dialect:
    """`points`: every point of every device, for births (Sparkplug) and device lists."""
    if cfg.mqtt.api == "sparkplug-b":
        return SparkplugDialect(cfg, store, version, points)
    if cfg.mqtt.api == "thingsboard":
        return ThingsboardDialect(cfg, store, version, points)
    return NativeDialect(cfg, store, version)
