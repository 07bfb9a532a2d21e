"""`edge-agent run --once`: the installer's last check before enabling the service.

Every enabled device polled once through the same pollers the daemon runs (buses opened
as the daemon opens them, one transaction at a time per line), decoded by its profile,
and the rules run on that one sample by the daemon's own detection. Nothing is stored
and nothing is published: the buffer and the broker are left alone. Rules that need a
delay, a window or several nights cannot fire on one sample; thresholds without a delay
and range checks can.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time

from drivers.bus import BusLine, open_bus
from drivers.profiles import Profile
from edge_agent.config import GatewayConfig
from edge_agent.daemon.loading import point_metas
from edge_agent.pipeline.detection import Detection
from edge_agent.pipeline.modes import scheduled_mode
from edge_agent.pipeline.poller import DevicePoller
from edge_agent.records import DevicePoll, Json
from rules.spec import RuleSet


async def poll_once(cfg: GatewayConfig, profiles: dict[str, Profile], ruleset: RuleSet) -> Json:
    """Poll every enabled device once and run the rules on the sample. `failed` counts the
    devices whose poll failed (timeout, exception, bus closed: the poll's reason)."""
    devices = [d for d in cfg.devices if d.enabled]
    queue: asyncio.Queue[DevicePoll] = asyncio.Queue()  # the pollers' outlet, unused here
    async with contextlib.AsyncExitStack() as stack:
        buses: dict[str, BusLine] = {}
        for b in cfg.buses:
            if any(d.bus == b.name for d in devices):
                buses[b.name] = await stack.enter_async_context(open_bus(b))
        pollers = [DevicePoller(d, profiles[d.profile], buses[d.bus], queue) for d in devices]
        started = time.monotonic()
        polls = await asyncio.gather(*(p.poll_once() for p in pollers))
        elapsed_s = time.monotonic() - started
    mode = scheduled_mode(cfg.gateway) or cfg.gateway.mode
    detection = Detection(ruleset, point_metas(cfg, profiles), devices, mode)
    alarms = [t for poll in polls for t in detection.on_poll(poll)]
    out_devices: list[Json] = []
    for poller, poll in zip(pollers, polls, strict=True):
        d = poller.device
        units = {p.name: p.unit for p in poller.profile.points}
        latency = poller.status.last_latency_s
        out_devices.append({
            "device": d.name, "bus": d.bus, "unit": d.unit, "profile": d.profile,
            "ok": poll.ok, "reason": poll.reason,
            "latency_ms": None if latency is None else round(latency * 1000, 1),
            "readings": [
                {"point": r.point, "value": None if math.isnan(r.value) else r.value,
                 "unit": units.get(r.point, ""), "quality": str(r.quality), "reason": r.reason}
                for r in poll.readings
            ],
        })  # fmt: skip
    return {
        "gateway": cfg.gateway.id,
        "mode": mode,
        "rules": len(ruleset.rules),
        "elapsed_s": round(elapsed_s, 2),
        "devices": out_devices,
        "failed": sum(1 for d in out_devices if not d["ok"]),
        "alarms": [
            {"device": t.device, "point": t.point, "rule": t.rule, "level": t.level,
             "state": str(t.state), "value": None if math.isnan(t.value) else t.value,
             "limit": None if math.isnan(t.limit) else t.limit, "unit": t.unit}
            for t in alarms
        ],
    }  # fmt: skip
