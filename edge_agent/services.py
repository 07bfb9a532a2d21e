"""What the running agent answers: control-socket methods (for the CLI) and MQTT commands.

One implementation per question: `diag` on MQTT is the control socket's `status`;
`read` is the same read either way. Handlers only look at the agent and ask the
detection stage for changes; the transitions they cause are stored before published.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import platform
import sqlite3
from collections.abc import AsyncGenerator
from importlib import metadata
from typing import TYPE_CHECKING, Any

from edge_agent import __version__
from edge_agent.clock import now_ms
from edge_agent.control import MethodError
from edge_agent.errors import ConfigError
from edge_agent.records import AlarmState, AlarmTransition, Reading
from edge_agent.uplink.commands import AckArgs, CommandError, ModeArgs, NoArgs, ReadArgs

if TYPE_CHECKING:
    from edge_agent.agent import Agent

Json = dict[str, Any]
TAIL_QUEUE = 1000  # items buffered per `tail` client before it starts missing some


def alarm_json(t: AlarmTransition, since_ms: int | None = None) -> Json:
    return {
        "id": t.alarm_id,
        "device": t.device,
        "point": t.point,
        "rule": t.rule,
        "kind": t.kind,
        "level": t.level,
        "state": str(t.state),
        "value": t.value,
        "limit": t.limit,
        "unit": t.unit,
        "ts_ms": t.ts_ms,
        "since_ms": since_ms if since_ms is not None else t.ts_ms,
        "acked": t.state is AlarmState.ACKED,
        "eta_s": t.eta_s,
    }


def _versions() -> dict[str, str]:
    out = {"edge-agent": __version__, "python": platform.python_version()}
    for dist in ("numba", "pymodbus", "aiomqtt", "pydantic"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    out["sqlite"] = sqlite3.sqlite_version
    return out


class Services:
    """Handlers bound to one running Agent."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.tails: set[tuple[asyncio.Queue[Json], tuple[str, ...], bool]] = set()

    # -- feeds from the pipeline --------------------------------------------------------

    def publish_reading(self, r: Reading, unit: str) -> None:
        if self.tails:
            item = {
                "type": "reading", "ts_ms": r.ts_ms, "device": r.device, "point": r.point,
                "value": r.value, "unit": unit, "quality": str(r.quality), "reason": r.reason,
            }  # fmt: skip
            self._fan_out(item, f"{r.device}/{r.point}", alarm=False)

    def publish_alarm(self, t: AlarmTransition) -> None:
        if self.tails:
            item = {"type": "alarm", **alarm_json(t)}
            self._fan_out(item, f"{t.device}/{t.point}", alarm=True)

    def _fan_out(self, item: Json, key: str, *, alarm: bool) -> None:
        for queue, globs, alarms in list(self.tails):
            if alarm and not alarms:
                continue
            if globs and not any(fnmatch.fnmatchcase(key, g) for g in globs):
                continue
            if not queue.full():  # a slow client misses items; the pipeline never waits
                queue.put_nowait(item)

    # -- control socket -----------------------------------------------------------------

    def handlers(self) -> dict[str, Any]:
        return {"status": self.status, "alarms": self.alarms, "read": self.read}

    def streams(self) -> dict[str, Any]:
        return {"tail": self.tail, "scan": self.scan}

    async def status(self, params: Json) -> Json:
        a = self.agent
        up = a.uplink
        stats = a.store.stats()
        buses = []
        for name, bus in a.buses.items():
            cfg = a.cfg.bus(name)
            n = bus.transactions
            buses.append({
                "name": name, "kind": cfg.kind, "target": bus_target(cfg),
                "requests": n, "errors": bus.failures, "timeouts": bus.timeouts,
                "overruns": bus.overruns,
                "mean_latency_ms": round(1000 * bus.busy_s / n, 1) if n else None,
            })  # fmt: skip
        devices = []
        for d in a.cfg.devices:
            p = a.pollers.get(d.name)
            row: Json = {"name": d.name, "bus": d.bus, "unit": d.unit, "profile": d.profile}
            if p is None:
                devices.append({**row, "state": "disabled"})
                continue
            h, st = p.health, p.status
            if not st.polled:
                state = "starting"
            elif h.failures_in_row == 0:
                state = "ok"
            else:
                state = "failing" if h.online else "offline"
            units = {pt.name: pt.unit for pt in p.profile.points}
            devices.append({
                **row, "state": state, "reason": h.reason,
                "consecutive_failures": h.failures_in_row, "polls": h.polls,
                "failed_polls": h.failed_polls, "last_good_ts_ms": st.last_good_ts_ms,
                "poll_interval_s": p.ticker.interval_s,
                "last_good": [{"point": k, "value": v, "unit": units.get(k, ""), "ts_ms": ts}
                              for k, (v, ts) in st.last_good.items()],
            })  # fmt: skip
        return {
            "now_ms": now_ms(),
            "gateway": {
                "id": a.cfg.gateway.id, "site": a.cfg.gateway.site, "mode": a.detection.mode,
                "config": str(a.config_path), "pid": os.getpid(), "started_ms": a.started_ms,
                "versions": _versions(), "rules": len(a.detection.ruleset.rules),
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

    async def tail(self, params: Json) -> AsyncGenerator[Json, None]:
        globs = params.get("points", [])
        if not isinstance(globs, list) or not all(isinstance(g, str) for g in globs):
            raise MethodError("points must be a list of glob strings")
        queue: asyncio.Queue[Json] = asyncio.Queue(TAIL_QUEUE)
        entry = (queue, tuple(globs), bool(params.get("alarms", True)))
        self.tails.add(entry)
        try:
            while True:
                yield await queue.get()
        finally:
            self.tails.discard(entry)

    async def read(self, params: Json) -> Json:
        from edge_agent.bus_tools import read_registers

        return await read_registers(self.agent, params)

    async def scan(self, params: Json) -> AsyncGenerator[Json, None]:
        from edge_agent.bus_tools import scan_units

        async for item in scan_units(self.agent, params):
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


def bus_target(cfg: Any) -> str:
    if cfg.kind in ("modbus-tcp", "modbus-rtu-over-tcp"):
        return f"{cfg.host}:{cfg.port}"
    return f"{cfg.port} {cfg.baudrate} {cfg.bytesize}{cfg.parity}{cfg.stopbits}"
