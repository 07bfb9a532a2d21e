"""What the running agent answers: control-socket methods (for the CLI) and MQTT
commands (for the platform), one implementation per question over one typed argument
set (ops.args): `diag` on MQTT is the control socket's `status`; `read` is the same read
either way. Handlers see the running gateway through `RunningGateway` only; the alarm
changes they cause go through detection and are stored before they are published.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from edge_agent.clock import now_ms
from edge_agent.errors import ConfigError
from edge_agent.ops import read as read_op
from edge_agent.ops import scan as scan_op
from edge_agent.ops import write as write_op
from edge_agent.ops.args import (
    AckArgs,
    AlarmsArgs,
    Args,
    ModeArgs,
    NoArgs,
    PointArgs,
    ReadArgs,
    ScanArgs,
    WriteArgs,
    parse,
)
from edge_agent.ops.errors import OpError
from edge_agent.ops.state import RunningGateway
from edge_agent.ops.status import (
    PollCounters,
    alarm_entry,
    bus_entry,
    device_entry,
    versions,
)
from edge_agent.ops.tail import TailHub
from edge_agent.records import AlarmState, AlarmTransition, Json

Params = dict[str, Any]  # as the control socket hands them over
Method = Callable[[Params], Awaitable[Json]]
StreamMethod = Callable[[Params], AsyncGenerator[Json, None]]


def alarm_json(t: AlarmTransition, since_ms: int | None = None) -> Json:
    """An alarm as `status` and `alarms` show it."""
    return alarm_entry(t, t.ts_ms if since_ms is None else since_ms, t.state is AlarmState.ACKED)


class Services:
    """The operations of one running gateway, and the live `tail` feed."""

    def __init__(self, gw: RunningGateway) -> None:
        self.gw = gw
        self.tail_hub = TailHub()

    # -- the two ways in ------------------------------------------------------------------

    def methods(self) -> dict[str, Method]:
        """Control-socket methods: raw params in, typed args to the operation."""
        return {
            "status": self._typed(NoArgs, self.status, strict=False),
            "alarms": self._typed(AlarmsArgs, self.alarms),
            "read": self._typed(ReadArgs, self.read),
            "write": self._typed(WriteArgs, self.write),
        }

    def streams(self) -> dict[str, StreamMethod]:
        async def scan(params: Params) -> AsyncGenerator[Json, None]:
            async for item in scan_op.scan(self.gw, parse(ScanArgs, params)):
                yield item

        return {"tail": self.tail_hub.subscribe, "scan": scan}

    def commands(self) -> dict[str, tuple[Callable[[Any], Awaitable[Json]], type[Args]]]:
        """MQTT commands (name -> handler and its argument model) besides `ping`."""
        return {
            "ack": (self.ack, AckArgs),
            "reload": (self.reload, NoArgs),
            "mode": (self.mode, ModeArgs),
            "read": (self.read_point, PointArgs),
            "diag": (self.status, NoArgs),
            "write": (self.write, WriteArgs),
        }

    @staticmethod
    def _typed(model: type[Args], op: Callable[[Any], Awaitable[Json]], *, strict: bool = True
               ) -> Method:  # fmt: skip
        async def method(params: Params) -> Json:
            # `status` takes no arguments; older clients may send some: ignore them.
            return await op(parse(model, params) if strict else model())

        return method

    # -- operations ------------------------------------------------------------------------

    async def status(self, _: NoArgs | None = None) -> Json:
        gw = self.gw
        up = gw.uplink
        stats = gw.store.stats()
        buses = [
            bus_entry(gw.cfg.bus(name), b.transactions, b.failures, b.timeouts, b.busy_s,
                      b.overruns)
            for name, b in gw.buses.items()
        ]  # fmt: skip
        devices = []
        for d in gw.cfg.devices:
            p = gw.pollers.get(d.name)
            if p is None:
                devices.append(device_entry(d, PollCounters(), None, []))
                continue
            h = p.health
            units = {pt.name: pt.unit for pt in p.profile.points}
            last_good = [(k, v, units.get(k, ""), ts) for k, (v, ts) in p.status.last_good.items()]
            counters = PollCounters(h.polls, h.failed_polls, h.failures_in_row,
                                    p.status.last_good_ts_ms)  # fmt: skip
            entry = device_entry(d, counters, h.reason, last_good, online=h.online)
            devices.append({**entry, "poll_interval_s": p.ticker.interval_s})
        return {
            "now_ms": now_ms(),
            "gateway": {
                "id": gw.cfg.gateway.id, "site": gw.cfg.gateway.site, "mode": gw.mode,
                "config": str(gw.config_path), "pid": os.getpid(), "started_ms": gw.started_ms,
                "versions": versions(), "rules": gw.rule_count,
                "not_assessing": gw.not_assessing, "learning": gw.learning,
            },
            "uplink": {
                "state": "connected" if up.connected.is_set() else "disconnected",
                "broker": f"{gw.cfg.mqtt.host}:{gw.cfg.mqtt.port}",
                "since_ms": up.since_ms,
                "last_error": up.last_error, **up.counters,
            },
            "buffer": {
                "depth": gw.store.depth(), "oldest_unsent_ts_ms": gw.store.oldest_unsent_ts(),
                "dropped": stats.get("dropped_messages", 0),
                "dropped_readings": stats.get("dropped_readings", 0),
                "db_bytes": gw.store.size_bytes(),
                "held_readings": stats.get("held_readings", 0),
                "held_alarms": gw.held_alarms,
            },
            "clock": gw.clock.health(),
            "buses": buses,
            "devices": devices,
            "alarms": [alarm_json(t, since) for t, since in gw.active_alarms()],
        }  # fmt: skip

    def health(self) -> Json:
        """The agent's part of the MQTT `health` payload (the uplink adds its own and the
        buffer's): the same counters `status` shows, in the health schema."""
        gw = self.gw
        buses = {name: {"kind": gw.cfg.bus(name).kind, **b.stats()} for name, b in gw.buses.items()}
        devices = {
            name: {"polls": p.health.polls, "failed_polls": p.health.failed_polls,
                   "online": p.health.online, "reason": p.health.reason,
                   "overruns": p.ticker.overruns, "last_good_ts": p.status.last_good_ts_ms}
            for name, p in gw.pollers.items()
        }  # fmt: skip
        actions = {"setting": gw.actions.setting, **gw.actions.counters}
        return {
            "buses": buses, "devices": devices, "mode": gw.mode, "clock": gw.clock.health(),
            "buffer": {"held_alarms": gw.held_alarms}, "actions": actions,
            "report": dict(gw.report_counters()),  # readings polled vs sent as telemetry
        }  # fmt: skip

    async def alarms(self, args: AlarmsArgs) -> Json:
        return {
            "now_ms": now_ms(),
            "active": [alarm_json(t, since) for t, since in self.gw.active_alarms()],
            "recent": [alarm_json(t) for t in self.gw.store.recent_alarms(args.recent)],
        }

    async def read(self, args: ReadArgs) -> Json:
        return await read_op.read(self.gw, args)

    async def read_point(self, args: PointArgs) -> Json:
        return await read_op.read(self.gw, ReadArgs(point=args.point))

    async def write(self, args: WriteArgs) -> Json:
        return await write_op.write(self.gw, args)

    async def ack(self, args: AckArgs) -> Json:
        t = self.gw.ack(args.id)
        if t is None:
            raise OpError(f"no active, unacknowledged alarm with id {args.id!r}")
        return {"id": t.alarm_id, "state": str(t.state)}

    async def mode(self, args: ModeArgs) -> Json:
        known = self.gw.known_modes()
        if args.mode not in known:
            # A typo would silently switch off every mode-limited rule.
            raise OpError(f"unknown mode {args.mode!r}; modes here: {', '.join(sorted(known))}")
        old = self.gw.mode
        self.gw.set_mode(args.mode)
        return {"mode": args.mode, "previous": old}

    async def reload(self, _: NoArgs) -> Json:
        try:
            n = self.gw.reload_rules()
        except ConfigError as err:
            raise OpError(f"rules not reloaded, the running rules stay: {err}") from err
        return {"rules": n}
