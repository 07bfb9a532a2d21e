"""The narrow view of the running gateway that the ops layer sees: what `status`,
`alarms`, `read`, `scan` and the commands need to look at, and the few changes they may
ask for. The daemon's Agent provides it; ops never sees the Agent itself, so a command
cannot reach into the pipeline past these methods (every alarm change goes through
detection and is stored before it is published)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from drivers.bus import BusLine
from drivers.profiles import Profile
from edge_agent.config import GatewayConfig
from edge_agent.pipeline.poller import DevicePoller
from edge_agent.records import AlarmTransition
from edge_agent.store import Store


class UplinkState(Protocol):
    """What `status` shows of the broker connection."""

    @property
    def connected(self) -> asyncio.Event: ...

    @property
    def last_error(self) -> str | None: ...

    @property
    def counters(self) -> Mapping[str, int]: ...


class RunningGateway(Protocol):
    @property
    def cfg(self) -> GatewayConfig: ...

    @property
    def config_path(self) -> Path: ...

    @property
    def started_ms(self) -> int: ...

    @property
    def profiles(self) -> Mapping[str, Profile]: ...

    @property
    def buses(self) -> Mapping[str, BusLine]: ...

    @property
    def pollers(self) -> Mapping[str, DevicePoller]: ...

    @property
    def store(self) -> Store: ...

    @property
    def uplink(self) -> UplinkState: ...

    @property
    def mode(self) -> str: ...

    @property
    def rule_count(self) -> int: ...

    @property
    def not_assessing(self) -> list[dict[str, object]]:
        """Rule bindings that cannot assess at their point's poll interval (rules.sampling)."""

    @property
    def learning(self) -> list[dict[str, object]]:
        """Baseline rule bindings still in their cold start (share of slots learned)."""

    def active_alarms(self) -> list[tuple[AlarmTransition, int]]:
        """Every active alarm's latest transition, with when it was raised (ts ms)."""

    def known_modes(self) -> set[str]: ...

    def ack(self, alarm_id: str) -> AlarmTransition | None:
        """Acknowledge an active alarm; None if there is no such unacknowledged alarm."""

    def set_mode(self, mode: str) -> None: ...

    def reload_rules(self) -> int:
        """Re-read the rule files (ConfigError leaves the running rules); returns how many."""
