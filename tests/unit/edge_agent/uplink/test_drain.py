"""The uplink session's own reports (no broker needed for these)."""

from __future__ import annotations

import json
from pathlib import Path

from edge_agent.config import GatewayConfig
from edge_agent.store import Store
from edge_agent.uplink.commands import CommandRouter
from edge_agent.uplink.drain import Uplink
from edge_agent.uplink.payloads import STORED_READINGS


async def test_health_counts_the_commands_of_the_router_the_agent_hands_in(
    tmp_path: Path,
) -> None:
    cfg = GatewayConfig.model_validate(
        {
            "gateway": {"id": "gw-test", "site": "site-a", "data_dir": str(tmp_path)},
            "mqtt": {"host": "127.0.0.1", "port": 1, "topic_prefix": "t"},
        }
    )
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    router = CommandRouter(cfg.mqtt.commands)
    uplink = Uplink(cfg, store, commands=router)  # as the agent builds it
    assert (await router("ping", json.dumps({"id": "c-1"}).encode()))["ok"] is True
    assert (await router("ping", b"not json"))["ok"] is False
    assert (await router("ping", json.dumps({"id": "c-2"}).encode()))["ok"] is True
    assert uplink.health()["commands"] == {"accepted": 2, "rejected": 1}
    store.close()
