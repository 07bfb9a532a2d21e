"""`[mqtt]`: the broker, its TLS and credentials, and the commands it may carry."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator

from drivers.settings import Port
from edge_agent.config.base import ConfigModel

TopicPrefix = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", min_length=1, max_length=128)
]


class TlsConfig(ConfigModel):
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _cert_needs_key(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (mutual TLS needs both)")
        return self


CommandName = Literal["ping", "ack", "reload", "mode", "read", "diag", "write"]


class CommandsConfig(ConfigModel):
    """[mqtt.commands]: which commands run, and how they must be signed."""

    # Read-only commands by default; ack, mode and reload change the gateway's state.
    allow: tuple[CommandName, ...] = ("ping", "read", "diag")
    hmac_key_file: Path | None = None  # when set, every command must carry a valid `sig`
    max_skew_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    max_bytes: Annotated[int, Field(ge=64, le=1_048_576)] = 4096


SparkplugId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", min_length=1, max_length=64)]


class SparkplugConfig(ConfigModel):
    """[mqtt.sparkplug]: the Sparkplug B identity of this gateway (an Edge Node)."""

    group_id: SparkplugId | None = None  # unset: [gateway] site
    edge_node_id: SparkplugId | None = None  # unset: [gateway] id
    # When set, birth and data wait until this Primary Host Application says it is online
    # (spBv1.0/STATE/{primary_host_id}), and the session ends when it goes offline.
    primary_host_id: SparkplugId | None = None


Api = Literal["edge-agent", "sparkplug-b", "thingsboard"]


class MqttConfig(ConfigModel):
    host: str = "127.0.0.1"
    port: Port = 1883
    client_id: str | None = None
    username: str | None = None
    password_file: Path | None = None
    password_env: str | None = None
    tls: TlsConfig | None = None
    topic_prefix: TopicPrefix = "lifeline"
    payload: Literal["json", "msgpack"] = "json"
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    telemetry_qos: Literal[0, 1] = 1
    max_inflight: Annotated[int, Field(ge=1, le=1000)] = 20
    health_interval_s: Annotated[float, Field(ge=1, le=86400)] = 60.0
    commands: CommandsConfig = CommandsConfig()
    # The uplink dialect: edge-agent's own topics, Eclipse Sparkplug B 3.0, or
    # ThingsBoard's gateway MQTT API.
    api: Api = "edge-agent"
    sparkplug: SparkplugConfig = SparkplugConfig()

    @model_validator(mode="after")
    def _payload_fits_api(self) -> MqttConfig:
        if self.api != "edge-agent" and self.payload != "json":
            raise ValueError(
                f'payload = "{self.payload}" applies to api = "edge-agent" only: '
                f"{self.api} fixes its own encoding (leave payload unset)"
            )
        return self

    def password(self, base_dir: Path = Path(".")) -> SecretStr | None:
        """The broker password, read from its file or environment variable, never inline.
        A relative `password_file` is relative to `base_dir` (the config file's folder)."""
        if self.password_file is not None:
            return SecretStr((base_dir / self.password_file).read_text().strip())
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            return SecretStr(value) if value is not None else None
        return None
