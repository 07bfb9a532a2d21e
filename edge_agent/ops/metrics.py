"""The health counters as Prometheus text (exposition format 0.0.4), built from what
`status` answers, so `edge-agent status`, the MQTT `health`/`diag` and a scrape agree.

Counters end in `_total`; every series carries the gateway id, so a fleet's Prometheus
can tell gateways apart without relabelling. Served by edge_agent.system.prometheus.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from edge_agent.records import Json

PREFIX = "edge_agent"
BUS_COUNTERS = (
    ("requests", "Transactions on the bus."),
    ("errors", "Failed transactions, timeouts included."),
    ("timeouts", "Transactions without an answer in time."),
    ("overruns", "Poll deadlines missed because the bus was busy."),
)
Labels = Mapping[str, Any]
Sample = tuple[Labels, float]


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _series(name: str, kind: str, help_: str, samples: Iterable[Sample]) -> list[str]:
    lines = [f"# HELP {PREFIX}_{name} {help_}", f"# TYPE {PREFIX}_{name} {kind}"]
    for labels, value in samples:
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        number = "NaN" if math.isnan(value) else repr(float(value))
        lines.append(f"{PREFIX}_{name}{{{text}}} {number}")
    return lines


def prometheus_text(status: Json) -> str:
    """Every series of one gateway, from a `status` answer (ops.services.Services)."""
    gw: Mapping[str, Any] = status["gateway"]
    g = {"gateway": gw["id"]}
    now_s = status["now_ms"] / 1000
    up: Mapping[str, Any] = status["uplink"]
    buf: Mapping[str, Any] = status["buffer"]
    out: list[str] = []

    def add(name: str, kind: str, help_: str, samples: Iterable[Sample]) -> None:
        out.extend(_series(name, kind, help_, samples))

    version = (gw.get("versions") or {}).get("edge-agent", "")
    add("info", "gauge", "The gateway: id, site, version, mode (always 1).",
        [({**g, "site": gw["site"], "version": version, "mode": gw["mode"]}, 1)])  # fmt: skip
    add("uptime_seconds", "gauge", "Seconds since the agent started.",
        [(g, round(now_s - gw["started_ms"] / 1000, 3))])  # fmt: skip
    add("rules", "gauge", "Rules in force.", [(g, gw["rules"])])
    add("uplink_connected", "gauge", "1 while the MQTT broker connection is up.",
        [(g, 1 if up["state"] == "connected" else 0)])  # fmt: skip
    for key in ("published", "connects", "connect_failures"):
        if key in up:
            add(f"uplink_{key}_total", "counter", f"MQTT {key.replace('_', ' ')} since start.",
                [(g, up[key])])  # fmt: skip
    add("buffer_unsent_messages", "gauge", "Messages in the outbox, not yet acknowledged.",
        [(g, buf["depth"])])  # fmt: skip
    oldest = buf.get("oldest_unsent_ts_ms")
    add("buffer_oldest_unsent_age_seconds", "gauge", "Age of the oldest unsent message (0: none).",
        [(g, 0 if oldest is None else max(0.0, round(now_s - oldest / 1000, 3)))])  # fmt: skip
    add("buffer_bytes", "gauge", "Size of buffer.db.", [(g, buf.get("db_bytes") or 0)])
    add("buffer_dropped_messages_total", "counter", "Messages dropped by a full buffer.",
        [(g, buf.get("dropped") or 0)])  # fmt: skip
    add("buffer_dropped_readings_total", "counter", "Readings dropped by a full buffer.",
        [(g, buf.get("dropped_readings") or 0)])  # fmt: skip

    buses = [({**g, "bus": b["name"], "kind": b["kind"]}, b) for b in status["buses"]]
    for key, help_ in BUS_COUNTERS:
        add(f"bus_{key}_total", "counter", help_, [(lb, b[key]) for lb, b in buses])
    devices = [({**g, "device": d["name"], "bus": d["bus"], "unit": d["unit"]}, d)
               for d in status["devices"]]  # fmt: skip
    add("device_polls_total", "counter", "Polls of the device.",
        [(lb, d["polls"]) for lb, d in devices])  # fmt: skip
    add("device_failed_polls_total", "counter", "Polls that failed (timeout, exception...).",
        [(lb, d["failed_polls"]) for lb, d in devices])  # fmt: skip
    add("device_up", "gauge", "1 when the device's last poll succeeded.",
        [(lb, 1 if d["state"] == "ok" else 0) for lb, d in devices])  # fmt: skip
    add("device_last_good_timestamp_seconds", "gauge", "Time of the last good reading (0: never).",
        [(lb, (d["last_good_ts_ms"] or 0) / 1000) for lb, d in devices])  # fmt: skip
    levels = [a["level"] for a in status["alarms"]]
    add("alarms_active", "gauge", "Active alarms by level (1 red ... 4 blue).",
        [({**g, "level": n}, levels.count(n)) for n in (1, 2, 3, 4)])  # fmt: skip
    return "\n".join(out) + "\n"
