"""The gateway config (gateway.toml): pydantic models by section, loading, problem reports.

- `gateway`: `GatewayConfig` (the whole file) and `[gateway]`; `mqtt`, `buffer`,
  `devices`, `modes`: the other sections; `base`: what they share.
- `checks`: references between sections, and defaults the firmware profiles supply.
- `loader`: `load_config(path)` -> `GatewayConfig`, or `ConfigError` with every problem.

The names below are the package's interface: import them from `edge_agent.config`.
"""

from drivers.profiles import format_loc
from edge_agent.config.buffer import BufferConfig
from edge_agent.config.checks import MODBUS_BUS_KINDS, apply_profile_defaults, cross_check
from edge_agent.config.devices import DeviceConfig
from edge_agent.config.gateway import GatewayConfig, GatewaySection
from edge_agent.config.loader import (
    DEFAULT_CONFIG,
    load_config,
    parse_config,
    problems_from_validation,
    read_toml,
    secret_warnings,
)
from edge_agent.config.metrics import MetricsConfig
from edge_agent.config.modes import ModeWindow
from edge_agent.config.mqtt import CommandsConfig, MqttConfig, SparkplugConfig, TlsConfig
from edge_agent.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG",
    "MODBUS_BUS_KINDS",
    "BufferConfig",
    "CommandsConfig",
    "ConfigError",
    "DeviceConfig",
    "GatewayConfig",
    "GatewaySection",
    "MetricsConfig",
    "ModeWindow",
    "MqttConfig",
    "SparkplugConfig",
    "TlsConfig",
    "apply_profile_defaults",
    "cross_check",
    "format_loc",
    "load_config",
    "parse_config",
    "problems_from_validation",
    "read_toml",
    "secret_warnings",
]
