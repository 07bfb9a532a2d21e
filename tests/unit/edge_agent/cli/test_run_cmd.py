"""`edge-agent run` refuses a config with problems before starting anything."""

from __future__ import annotations

from pathlib import Path

from tests.unit.edge_agent.cli.support import edge_agent
from tests.unit.edge_agent.config.support import GOOD


def test_run_refuses_to_start_on_a_bad_config(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(GOOD.replace('kind = "modbus-tcp"', 'kind = "modbus-tcpx"'))
    r = edge_agent("run", "-c", str(cfg))
    assert r.returncode == 1
    assert "buses[1]" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "data").exists()  # nothing was started
