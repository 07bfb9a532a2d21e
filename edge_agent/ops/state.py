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
from edge_agent.clock import Clock
from edge_agent.config import GatewayConfig
from edge_agent.pipeline.actions import ActionStage
from edge_agent.pipeline.poller import DevicePoller
from edge_agent.records import ActionEvent, AlarmTransition
from edge_agent.store import Store


class UplinkState(Protocol):
    """What `status` shows of the broker connection."""

    @property
    def connected(self) -> asyncio.Event: ...

    @property
    def last_error(self) -> str | None: ...

    @property
    def since_ms(self) -> int:
        """When `connected` last changed (the uplink's start if it never did)."""
        ...

    @property
    def counters(self) -> Mapping[str, int]: ...


class GatewayBuses(Protocol):
    """What `read` and `scan` need: the config, the profiles, and the buses that are open
    (the daemon's polled lines; none when the CLI works on the buses itself, see
    ops.direct)."""

    @property
    def cfg(self) -> GatewayConfig: ...

    @property
    def profiles(self) -> Mapping[str, Profile]: ...

    @property
    def buses(self) -> Mapping[str, BusLine]: ...


class RunningGateway(GatewayBuses, Protocol):
    @property
    def config_path(self) -> Path: ...

    @property
    def started_ms(self) -> int: ...

    @property
    def pollers(self) -> Mapping[str, DevicePoller]: ...

    @property
    def actions(self) -> ActionStage:
        """The action stage: its setting and counters (writes go through `write`)."""

    @property
    def store(self) -> Store: ...

    @property
    def clock(self) -> Clock:
        """Wall and rule time, and the wall-clock steps seen (status `clock`)."""

    @property
    def uplink(self) -> UplinkState: ...

    @property
    def mode(self) -> str: ...

    @property
    def rule_count(self) -> int: ...

    @property
    def held_alarms(self) -> int:
        """Alarm transitions waiting in memory for room on the disk (never dropped)."""

    @property
    def not_assessing(self) -> list[dict[str, object]]:
        """Rule bindings that cannot assess at their point's poll interval (rules.sampling)."""

    @property
    def learning(self) -> list[dict[str, object]]:
        """Baseline rule bindings still in their cold start (share of slots learned)."""

    def active_alarms(self) -> list[tuple[AlarmTransition, int]]:
        """Every active alarm's latest transition, with when it was raised (ts ms)."""

    def known_modes(self) -> set[str]: ...

    def report_counters(self) -> Mapping[str, int]:
        """Readings polled and readings reported as telemetry, since start."""

    def ack(self, alarm_id: str) -> AlarmTransition | None:
        """Acknowledge an active alarm; None if there is no such unacknowledged alarm."""

    def set_mode(self, mode: str) -> None: ...

    def reload_rules(self) -> int:
        """Re-read the rule files (ConfigError leaves the running rules); returns how many."""

    async def write(self, key: str, value: float) -> ActionEvent:
        """An operator's write of `device/point`, made and read back by the action stage
        and audited as an action event; EdgeAgentError when it may not be made."""
