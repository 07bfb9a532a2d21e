"""Where the control socket is, for the daemon and for the CLI, and whether it answers."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path

from edge_agent.config import GatewayConfig
from edge_agent.control.protocol import ControlError

SOCKET_NAME = "control.sock"
# Where systemd's RuntimeDirectory=edge-agent puts the socket: the CLI looks here even
# though a technician's shell has no $RUNTIME_DIRECTORY.
SYSTEMD_RUNTIME_DIR = Path("/run/edge-agent")
# sockaddr_un.sun_path is 108 bytes on Linux, one of them the terminating NUL.
_MAX_PATH_BYTES = 107


def control_socket_path(cfg: GatewayConfig, env: Mapping[str, str] | None = None) -> Path:
    """Where the daemon listens: `[gateway] control_socket`, else $RUNTIME_DIRECTORY
    (set by systemd's RuntimeDirectory=), else `{data_dir}/control.sock`."""
    env = os.environ if env is None else env
    if cfg.gateway.control_socket is not None:
        return cfg.resolve(cfg.gateway.control_socket)
    runtime = env.get("RUNTIME_DIRECTORY", "")
    if runtime:
        # systemd joins several RuntimeDirectory= entries with ':'; ours is the first.
        return Path(runtime.split(":")[0]) / SOCKET_NAME
    return cfg.data_dir / SOCKET_NAME


def client_socket_paths(cfg: GatewayConfig, env: Mapping[str, str] | None = None) -> list[Path]:
    """Where the CLI looks for the daemon, in order. Without an explicit
    `control_socket` the daemon may run under systemd (socket in /run/edge-agent)
    or by hand (socket in data_dir), and the CLI's environment cannot tell which."""
    if cfg.gateway.control_socket is not None:
        return [control_socket_path(cfg, env)]
    env = os.environ if env is None else env
    runtime = env.get("RUNTIME_DIRECTORY", "")
    candidates = [Path(runtime.split(":")[0]) / SOCKET_NAME] if runtime else []
    candidates += [SYSTEMD_RUNTIME_DIR / SOCKET_NAME, cfg.data_dir / SOCKET_NAME]
    out: list[Path] = []
    for p in candidates:
        if p not in out:
            out.append(p)
    return out


def check_socket_path(path: Path) -> None:
    n = len(os.fsencode(path))
    if n > _MAX_PATH_BYTES:
        raise ControlError(
            f"control socket path is too long ({n} bytes, at most {_MAX_PATH_BYTES}): {path}; "
            "set a shorter [gateway] control_socket"
        )


def socket_is_listening(path: Path) -> bool:
    """True if something accepts connections on `path` (a cheap liveness probe)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(os.fspath(path))
        except OSError:
            return False
    return True
