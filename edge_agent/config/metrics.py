"""`[metrics]`: the health counters as Prometheus text, for a fleet's own monitoring.
Off unless a key is set: a textfile for node_exporter's textfile collector, or a local
HTTP port to scrape (`/metrics`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator

from edge_agent.config.base import ConfigModel


class MetricsConfig(ConfigModel):
    """[metrics]: where the Prometheus text goes; nothing when both are unset."""

    # node_exporter's textfile collector reads *.prom in its --collector.textfile.directory;
    # the file is replaced atomically (written beside it, then renamed).
    textfile: Path | None = None
    # "127.0.0.1:9108" (or ":9108" for every address): GET /metrics answers there.
    listen: str | None = None
    interval_s: Annotated[float, Field(ge=1, le=3600)] = 15.0  # how often the textfile is written

    @field_validator("textfile")
    @classmethod
    def _prom_suffix(cls, v: Path | None) -> Path | None:
        if v is not None and v.suffix != ".prom":
            raise ValueError("node_exporter's textfile collector reads only files named *.prom")
        return v

    @field_validator("listen")
    @classmethod
    def _host_port(cls, v: str | None) -> str | None:
        if v is None:
            return v
        host, sep, port = v.rpartition(":")
        if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:9108 (port 1-65535)")
        if host.startswith("[") != host.endswith("]"):
            raise ValueError("an IPv6 host goes in brackets: [::1]:9108")
        return v

    @property
    def listen_host_port(self) -> tuple[str, int] | None:
        if self.listen is None:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]") or "0.0.0.0", int(port)
