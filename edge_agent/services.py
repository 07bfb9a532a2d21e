"""What the running agent answers: control-socket methods (for the CLI) and MQTT commands.

One implementation per question: `diag` on MQTT is the control socket's `status`;
`read` is the same read either way. Handlers only look at the agent and ask the
detection stage for changes; the transitions they cause are stored before published.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge_agent.clock import now_ms
from edge_agent.control import MethodError
from edge_agent.errors import ConfigError
from edge_agent.records import AlarmState, AlarmTransition, Reading
from edge_agent.status_report import alarm_entry, bus_entry, device_entry, versions
from edge_agent.tail import TailHub
from edge_agent.uplink.commands import AckArgs, CommandError, ModeArgs, NoArgs, ReadArgs

if TYPE_CHECKING:
    from edge_agent.agent import Agent

Json = dict[str, Any]


def alarm_json(t: AlarmTransition, since_ms: int | None = None) -> Json:
    """An active alarm as `status` and `alarms` show it."""
    return alarm_entry(t, t.ts_ms if since_ms is None else since_ms, t.state is AlarmState.ACKED)


@dataclass
class Counters:
    """A device's poll counters in the shape status_report.PollCounters wants."""

    polls: int = 0
    failed_polls: int = 0
    consecutive_failures: int = 0
    last_good_ts_ms: int | None = None


class Services:
    """Handlers bound to one running Agent."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.tail_hub = TailHub()

    # -- feeds from the pipeline --------------------------------------------------------

    def publish_reading(self, r: Reading, unit: str) -> None:
        self.tail_hub.publish_reading(r, unit)

    def publish_alarm(self, t: AlarmTransition) -> None:
        self.tail_hub.publish_alarm(t)

    # -- control socket -----------------------------------------------------------------

    def handlers(self) -> dict[str, Any]:
        return {"status": self.status, "alarms": self.alarms, "read": self.read}

    def streams(self) -> dict[str, Any]:
        return {"tail": self.tail_hub.subscribe, "scan": self.scan}

    async def status(self, params: Json) -> Json:
        a = self.agent
        up = a.uplink
        stats = a.store.stats()
        buses = []
        for name, bus in a.buses.items():
            buses.append(bus_entry(a.cfg.bus(name), bus.transactions, bus.failures,
                                   bus.timeouts, bus.busy_s, bus.overruns))  # fmt: skip
        devices = []
        for d in a.cfg.devices:
            p = a.pollers.get(d.name)
            if p is None:
                devices.append(device_entry(d, Counters(), None, []))
                continue
            h = p.health
            units = {pt.name: pt.unit for pt in p.profile.points}
            last_good = [(k, v, units.get(k, ""), ts) for k, (v, ts) in p.status.last_good.items()]
            counters = Counters(h.polls, h.failed_polls, h.failures_in_row,
                                p.status.last_good_ts_ms)  # fmt: skip
            entry = device_entry(d, counters, h.reason, last_good, online=h.online)
            devices.append({**entry, "poll_interval_s": p.ticker.interval_s})
        return {
            "now_ms": now_ms(),
            "gateway": {
                "id": a.cfg.gateway.id, "site": a.cfg.gateway.site, "mode": a.detection.mode,
                "config": str(a.config_path), "pid": os.getpid(), "started_ms": a.started_ms,
                "versions": versions(), "rules": len(a.detection.ruleset.rules),
            },
            "uplink": {
                "state": "connected" if up.connected.is_set() else "disconnected",
                "broker": f"{a.cfg.mqtt.host}:{a.cfg.mqtt.port}",
                "last_error": up.last_error, **up.counters,
            },
            "buffer": {
                "depth": a.store.depth(), "oldest_unsent_ts_ms": a.store.oldest_unsent_ts(),
                "dropped": stats.get("dropped_messages", 0),
                "dropped_readings": stats.get("dropped_readings", 0),
                "db_bytes": a.store.size_bytes(),
            },
            "buses": buses,
            "devices": devices,
            "alarms": [alarm_json(t, a.alarm_since.get(t.alarm_id)) for t in a.detection.active()],
        }  # fmt: skip

    async def alarms(self, params: Json) -> Json:
        recent = params.get("recent", 20)
        if not isinstance(recent, int) or not 0 <= recent <= 10_000:
            raise MethodError("recent must be an integer 0..10000")
        a = self.agent
        return {
            "now_ms": now_ms(),
            "active": [alarm_json(t, a.alarm_since.get(t.alarm_id)) for t in a.detection.active()],
            "recent": [alarm_json(t) for t in a.store.recent_alarms(recent)],
        }

    async def read(self, params: Json) -> Json:
        from edge_agent.bus_tools import read_registers

        return await read_registers(self.agent, params)

    async def scan(self, params: Json) -> AsyncGenerator[Json, None]:
        from edge_agent.bus_tools import scan_bus

        async for item in scan_bus(self.agent, params):
            yield item

    # -- MQTT commands ------------------------------------------------------------------

    async def cmd_ack(self, args: AckArgs) -> Json:
        t = self.agent.ack(args.id)
        if t is None:
            raise CommandError(f"no active, unacknowledged alarm with id {args.id!r}")
        return {"id": t.alarm_id, "state": str(t.state)}

    async def cmd_mode(self, args: ModeArgs) -> Json:
        old = self.agent.detection.mode
        self.agent.set_mode(args.mode)
        return {"mode": args.mode, "previous": old}

    async def cmd_reload(self, _: NoArgs) -> Json:
        try:
            n = self.agent.reload_rules()
        except ConfigError as err:
            raise CommandError(f"rules not reloaded, the running rules stay: {err}") from err
        return {"rules": n}

    async def cmd_read(self, args: ReadArgs) -> Json:
        try:
            return await self.read({"point": args.point})
        except MethodError as err:
            raise CommandError(str(err)) from err

    async def cmd_diag(self, _: NoArgs) -> Json:
        return await self.status({})
