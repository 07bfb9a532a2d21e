"""Where the daemon listens and where the CLI looks for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_agent.config import GatewayConfig
from edge_agent.control.paths import client_socket_paths, control_socket_path


def _cfg(data_dir: Path, control_socket: str | None = None) -> GatewayConfig:
    gw: dict[str, Any] = {"id": "gw-1", "site": "s", "data_dir": str(data_dir)}
    if control_socket is not None:
        gw["control_socket"] = control_socket
    return GatewayConfig.model_validate({"gateway": gw})


def test_socket_path_prefers_config_then_runtime_directory_then_data_dir() -> None:
    env = {"RUNTIME_DIRECTORY": "/run/edge-agent:/run/other"}
    assert control_socket_path(_cfg(Path("/d"), "/x/c.sock"), env) == Path("/x/c.sock")
    assert control_socket_path(_cfg(Path("/d")), env) == Path("/run/edge-agent/control.sock")
    assert control_socket_path(_cfg(Path("/d")), {}) == Path("/d/control.sock")


def test_cli_looks_in_the_systemd_runtime_dir_and_data_dir() -> None:
    assert client_socket_paths(_cfg(Path("/d")), {}) == [
        Path("/run/edge-agent/control.sock"),
        Path("/d/control.sock"),
    ]
    assert client_socket_paths(_cfg(Path("/d"), "/x/c.sock"), {}) == [Path("/x/c.sock")]
    env = {"RUNTIME_DIRECTORY": "/run/edge-agent"}
    assert client_socket_paths(_cfg(Path("/d")), env) == [
        Path("/run/edge-agent/control.sock"),
        Path("/d/control.sock"),
    ]
