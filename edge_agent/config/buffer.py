"""`[buffer]`: the store-and-forward database."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from edge_agent.config.base import ConfigModel


class BufferConfig(ConfigModel):
    """[buffer]: the store-and-forward database (buffer.db in data_dir)."""

    max_mb: Annotated[float, Field(gt=0)] = 512.0  # oldest telemetry is dropped beyond this
    retention_days: Annotated[float, Field(ge=0)] = 7.0  # delivered readings kept this long
    commit_interval_s: Annotated[float, Field(ge=0, le=60)] = 1.0  # readings batch commits
    max_message_kb: Annotated[int, Field(ge=1, le=65536)] = 128  # one backlog message
    # Readings held in memory while they cannot be stored (a full disk); oldest dropped.
    max_held_readings: Annotated[int, Field(ge=100, le=10_000_000)] = 50_000
