"""The dialect `[mqtt] api` names."""

from __future__ import annotations

from edge_agent.config import GatewayConfig
from edge_agent.store import Store
from edge_agent.uplink.dialect import Dialect
from edge_agent.uplink.native import NativeDialect


def make_dialect(cfg: GatewayConfig, store: Store, version: str) -> Dialect:
    if cfg.mqtt.api == "edge-agent":
        return NativeDialect(cfg, store, version)
    raise NotImplementedError(cfg.mqtt.api)
