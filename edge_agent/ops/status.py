"""Pieces of the control socket's `status` result, in the shape docs/cli.md gives.

The daemon knows the live values (counters, uplink state, store depth); these
functions only put them in the documented shape, so `edge-agent status` and
the daemon cannot drift apart. Pure: no I/O beyond reading version strings.
"""

from __future__ import annotations

import platform
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from drivers.settings import BusConfig, ModbusRtuOverTcpBusConfig, ModbusTcpBusConfig
from edge_agent import __version__
from edge_agent.config import DeviceConfig
from edge_agent.records import AlarmTransition


@dataclass(frozen=True, slots=True)
class PollCounters:
    """What `status` shows of a device's polling."""

    polls: int = 0
    failed_polls: int = 0
    consecutive_failures: int = 0
    last_good_ts_ms: int | None = None


def versions() -> dict[str, str]:
    """edge-agent, Python, numba, pymodbus and SQLite versions, for bug reports."""
    out = {"edge-agent": __version__, "python": platform.python_version()}
    for dist in ("numba", "pymodbus", "aiomqtt"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    out["sqlite"] = sqlite3.sqlite_version
    return out


def bus_target(bus: BusConfig) -> str:
    """Where a bus goes, as a technician would write it: `/dev/ttyS1 9600 8N1`, `10.0.0.5:502`."""
    if isinstance(bus, ModbusTcpBusConfig | ModbusRtuOverTcpBusConfig):
        return f"{bus.host}:{bus.port}"
    return f"{bus.port} {bus.baudrate} {bus.bytesize}{bus.parity}{bus.stopbits}"


def bus_entry(
    bus: BusConfig,
    requests: int,
    errors: int,
    timeouts: int,
    latency_s_total: float,
    overruns: int = 0,
) -> dict[str, Any]:
    """One `buses[]` item; `errors` counts every failed request, timeouts included;
    `overruns` the poll deadlines missed because the bus was too busy."""
    return {
        "name": bus.name,
        "kind": bus.kind,
        "target": bus_target(bus),
        "requests": requests,
        "errors": errors,
        "timeouts": timeouts,
        "overruns": overruns,
        "mean_latency_ms": round(latency_s_total / requests * 1000, 1) if requests else None,
    }


def device_state(device: DeviceConfig, counters: PollCounters, online: bool = True) -> str:
    if not device.enabled:
        return "disabled"
    if counters.polls == 0:
        return "starting"
    if not counters.consecutive_failures:
        return "ok"
    return "failing" if online else "offline"


def device_entry(
    device: DeviceConfig,
    counters: PollCounters,
    reason: str | None,
    last_good: Sequence[tuple[str, float, str, int]],
    *,
    online: bool = True,
) -> dict[str, Any]:
    """One `devices[]` item. `reason`: why the last poll failed (None if it did not);
    `last_good`: (point, value, unit, ts_ms) of each point's last good reading;
    `online` False once the device has failed enough polls to count as offline."""
    state = device_state(device, counters, online)
    return {
        "name": device.name,
        "bus": device.bus,
        "unit": device.unit,
        "profile": device.profile,
        "state": state,
        "reason": reason if state in ("failing", "offline") else None,
        "consecutive_failures": counters.consecutive_failures,
        "polls": counters.polls,
        "failed_polls": counters.failed_polls,
        "last_good_ts_ms": counters.last_good_ts_ms,
        "last_good": [
            {"point": p, "value": v, "unit": u, "ts_ms": ts} for p, v, u, ts in last_good
        ],
    }


def alarm_entry(t: AlarmTransition, since_ms: int, acked: bool) -> dict[str, Any]:
    """One active alarm: its latest transition, when it was raised, whether acked."""
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
        "since_ms": since_ms,
        "ts_ms": t.ts_ms,
        "acked": acked,
        "eta_s": t.eta_s,
        "evidence": None if t.evidence is None else t.evidence.to_dict(),
    }


def summary_line(status: Mapping[str, Any]) -> str:
    """One line for sd_notify STATUS= (shown by `systemctl status`): device health,
    uplink, backlog and alarms, e.g. `2/3 devices ok (pt-102: timeout); uplink
    connected; 12 unsent; 1 alarm active`."""
    devices = [d for d in status.get("devices") or [] if d.get("state") != "disabled"]
    ok = sum(1 for d in devices if d.get("state") == "ok")
    line = f"{ok}/{len(devices)} devices ok"
    failing = [d for d in devices if d.get("state") in ("failing", "offline")]
    if failing:
        shown = ", ".join(f"{d.get('name')}: {d.get('reason')}" for d in failing[:3])
        more = f", +{len(failing) - 3} more" if len(failing) > 3 else ""
        line += f" ({shown}{more})"
    uplink = status.get("uplink") or {}
    line += f"; uplink {uplink.get('state', 'unknown')}"
    depth = int((status.get("buffer") or {}).get("depth") or 0)
    line += f"; {depth} unsent"
    n = len(status.get("alarms") or [])
    line += f"; {n} alarm{'' if n == 1 else 's'} active"
    return line
