"""`[gateway]` and the whole file: `GatewayConfig`, the root of gateway.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr

from drivers.settings import BusConfig
from edge_agent.config.base import ConfigModel, TopicWord
from edge_agent.config.buffer import BufferConfig
from edge_agent.config.devices import DeviceConfig
from edge_agent.config.metrics import MetricsConfig
from edge_agent.config.modes import ModeWindow
from edge_agent.config.mqtt import MqttConfig
from edge_agent.config.report import Deadband, ReportInterval, ReportMode

GatewayId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$", min_length=1, max_length=64)]


class GatewaySection(ConfigModel):
    id: GatewayId
    site: TopicWord
    data_dir: Path = Path("/var/lib/edge-agent")
    rules: list[str] = Field(default_factory=list)
    profiles: list[str] = Field(default_factory=list)
    mode: TopicWord = "normal"
    mode_schedule: list[ModeWindow] = Field(default_factory=list)
    # Where the CLI reaches the running daemon; unset: $RUNTIME_DIRECTORY, else data_dir.
    control_socket: Path | None = None
    # Telemetry reporting, the default of every device: every poll, or on change beyond
    # `deadband` (keys: quantities, or `device/point`); `report_interval_s` batches.
    report: ReportMode = "every-poll"
    report_interval_s: ReportInterval = 0.0
    deadband: Deadband = Field(default_factory=dict)
    # The rule files' [[actions]]: "dry-run" decides and publishes but writes nothing,
    # "auto" writes, "off" neither decides nor publishes.
    actions: Literal["dry-run", "auto", "off"] = "dry-run"


class GatewayConfig(ConfigModel):
    gateway: GatewaySection
    mqtt: MqttConfig = MqttConfig()
    buffer: BufferConfig = BufferConfig()
    metrics: MetricsConfig = MetricsConfig()
    buses: list[BusConfig] = Field(default_factory=list)
    devices: list[DeviceConfig] = Field(default_factory=list)

    # Where the file was read from: relative paths in it resolve against this folder.
    _base_dir: Path = PrivateAttr(default=Path("."))

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def root_topic(self) -> str:
        return f"{self.mqtt.topic_prefix}/{self.gateway.site}/{self.gateway.id}"

    @property
    def data_dir(self) -> Path:
        return self.resolve(self.gateway.data_dir)

    def resolve(self, p: Path | str) -> Path:
        p = Path(p)
        return p if p.is_absolute() else self.base_dir / p

    def bus(self, name: str) -> BusConfig:
        return next(b for b in self.buses if b.name == name)
