"""What the daemon loads from disk: the buffer opened from the config."""

from __future__ import annotations

from pathlib import Path

from edge_agent.config import GatewayConfig
from edge_agent.daemon.loading import open_store


def test_open_store_uses_data_dir_and_buffer_settings(tmp_path: Path) -> None:
    cfg = GatewayConfig.model_validate(
        {
            "gateway": {"id": "gw", "site": "s", "data_dir": str(tmp_path / "data")},
            "buffer": {"commit_interval_s": 5, "max_message_kb": 2},
        }
    )
    store = open_store(cfg)
    assert store.path == tmp_path / "data" / "buffer.db"
    assert store.commit_interval_s == 5
    assert store.max_message_bytes == 2048
    store.close()
