"""Pure renderers for the diagnostics commands: dict in, text out, no I/O.

The dicts are the control-socket results documented in docs/cli.md. Ages are
computed against the daemon's own `now_ms`, so output does not depend on the
clock of the machine running the CLI (and tests are deterministic).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from drivers.base import BIT_TABLES
from edge_agent.cli.output import (
    format_age,
    format_bytes,
    format_duration,
    format_evidence,
    format_level,
    format_table,
    format_ts,
    format_value,
)

# Older than this, unsent messages mean the uplink is not keeping up.
BUFFER_LAG_WARN_MS = 60_000


# ---------------------------------------------------------------- status


def assess(status: Mapping[str, Any]) -> list[str]:
    """What is wrong with the gateway itself, one line each, worst first. Empty: healthy.

    Active alarms are about the city's network, not the gateway, so they are not here.
    """
    now = int(status.get("now_ms", 0))
    problems: list[str] = []
    uplink = status.get("uplink") or {}
    buffer = status.get("buffer") or {}
    state = uplink.get("state", "unknown")
    depth = int(buffer.get("depth") or 0)
    oldest = buffer.get("oldest_unsent_ts_ms")
    backlog = f"{depth} messages buffered, oldest {format_age(oldest, now)}" if depth else ""
    if state != "connected":
        since = uplink.get("since_ms")
        line = f"uplink {state}"
        if since is not None:
            line += f" for {format_duration(now - since)}"
        if uplink.get("last_error"):
            line += f": {uplink['last_error']}"
        problems.append(line + (f"; {backlog}" if backlog else ""))
    elif oldest is not None and now - oldest > BUFFER_LAG_WARN_MS:
        problems.append(f"uplink is behind: {backlog}")
    dropped = int(buffer.get("dropped") or 0)
    if dropped:
        problems.append(f"buffer dropped {dropped} telemetry messages (full buffer)")
    held_alarms, held = int(buffer.get("held_alarms") or 0), int(buffer.get("held_readings") or 0)
    if held_alarms or held > 10_000:
        problems.append(
            f"buffer cannot be written (disk full?): {held_alarms} alarm transitions and "
            f"{held} readings waiting in memory"
        )
    clock = status.get("clock") or {}
    if clock.get("steps"):
        step = int(clock.get("last_step_ms") or 0)
        way = "back" if step < 0 else "forward"
        problems.append(
            f"wall clock stepped {way} {format_duration(abs(step))} "
            f"{format_age(clock.get('last_step_ts'), now)} ({clock['steps']} steps since start; "
            "alarm timing unaffected, record times before the step are off by it)"
        )
    for d in status.get("devices") or []:
        if d.get("state") in ("ok", "disabled", "starting"):
            continue  # starting: not polled yet, which lasts one poll at most
        where = f"{d.get('bus')} unit {d.get('unit')}"
        line = f"device {d.get('name')} ({where}): {d.get('state')}"
        if d.get("reason"):
            line += f": {d['reason']}"
        n = int(d.get("consecutive_failures") or 0)
        if n:
            line += f", {n} failed polls in a row"
        line += f", last good reading {format_age(d.get('last_good_ts_ms'), now)}"
        problems.append(line)
    return problems


def _bus_rows(buses: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    rows = []
    for b in buses:
        lat = b.get("mean_latency_ms")
        rows.append(
            [
                b.get("name"),
                b.get("kind"),
                b.get("target"),
                b.get("requests", 0),
                b.get("errors", 0),
                b.get("timeouts", 0),
                b.get("overruns", 0),
                "-" if lat is None else f"{lat:.0f} ms",
            ]
        )
    return rows


def _device_rows(devices: Sequence[Mapping[str, Any]], now: int) -> list[list[Any]]:
    rows = []
    for d in devices:
        state = str(d.get("state", "unknown"))
        values = ", ".join(
            f"{r.get('point')}={format_value(r.get('value'), r.get('unit'))}"
            for r in d.get("last_good") or []
        )
        rows.append(
            [
                d.get("name"),
                d.get("bus"),
                d.get("unit"),
                state if state in ("ok", "disabled") else state.upper(),
                d.get("reason"),
                format_age(d.get("last_good_ts_ms"), now),
                values or None,
            ]
        )
    return rows


def alarm_rows(alarms: Sequence[Mapping[str, Any]], now: int) -> list[list[Any]]:
    rows = []
    for a in sorted(alarms, key=lambda a: (a.get("level") or 9, -(a.get("since_ms") or 0))):
        state = str(a.get("state"))
        if a.get("eta_s") is not None:
            state += f" (eta {format_duration(float(a['eta_s']) * 1000)})"
        rows.append(
            [
                format_level(a.get("level")),
                f"{a.get('device')}/{a.get('point')}",
                a.get("rule"),
                state,
                format_value(a.get("value"), a.get("unit")),
                format_value(a.get("limit")),
                format_age(a.get("since_ms"), now),
                "yes" if a.get("acked") else "no",
                a.get("id"),
            ]
        )
    return rows


ALARM_HEADERS = ("LEVEL", "POINT", "RULE", "STATE", "VALUE", "LIMIT", "SINCE", "ACKED", "ID")


def render_status(status: Mapping[str, Any]) -> str:
    """The technician's one screen: verdict first, then uplink, buffer, buses, devices,
    alarms, versions."""
    now = int(status.get("now_ms", 0))
    gw = status.get("gateway") or {}
    versions = gw.get("versions") or {}
    uplink = status.get("uplink") or {}
    buffer = status.get("buffer") or {}
    devices = status.get("devices") or []
    alarms = status.get("alarms") or []
    out: list[str] = []

    head = [f"gateway {gw.get('id', '?')}"]
    if gw.get("site"):
        head.append(f"site {gw['site']}")
    head.append(f"mode {gw.get('mode', '?')}")
    if gw.get("started_ms") is not None:
        head.append(f"up {format_duration(now - int(gw['started_ms']))}")
    out.append("  ".join(head))

    problems = assess(status)
    answering = sum(1 for d in devices if d.get("state") == "ok")
    enabled = sum(1 for d in devices if d.get("state") != "disabled")
    if problems:
        out.append(f"ATTENTION: {len(problems)} problem{'s' if len(problems) > 1 else ''}")
        out += [f"  - {p}" for p in problems]
    else:
        out.append(
            f"OK: {answering}/{enabled} devices answering, uplink connected, "
            f"{int(buffer.get('depth') or 0)} messages buffered"
        )
    if alarms:
        worst = min(int(a.get("level") or 9) for a in alarms)
        out.append(f"ALARMS: {len(alarms)} active, most severe level {format_level(worst)}")
    else:
        out.append("ALARMS: none active")
    for n in gw.get("not_assessing") or []:  # rules that can never raise at this poll rate
        out.append(f"NOT ASSESSING: {n.get('rule')} on {n.get('point')}: {n.get('why')} "
                   f"at a poll of {n.get('poll_s')} s")  # fmt: skip
    for n in gw.get("learning") or []:  # baselines in their cold start
        meanwhile = "its fixed limit decides meanwhile" if n.get("fixed_limit") else "silent"
        out.append(f"LEARNING: {n.get('rule')} on {n.get('point')}: "
                   f"{float(n.get('learned') or 0):.0%} of slots learned; {meanwhile}")  # fmt: skip
    out.append("")

    line = f"uplink  {uplink.get('state', 'unknown')}"
    if uplink.get("broker"):
        line += f"  {uplink['broker']}"
    if uplink.get("since_ms") is not None:
        line += f"  since {format_age(uplink['since_ms'], now)}"
    out.append(line)
    oldest = buffer.get("oldest_unsent_ts_ms")
    line = f"buffer  {int(buffer.get('depth') or 0)} unsent"
    line += f", oldest {format_age(oldest, now)}" if oldest is not None else ""
    line += f", {int(buffer.get('dropped') or 0)} dropped"
    if buffer.get("db_bytes") is not None:
        line += f", buffer.db {format_bytes(buffer['db_bytes'])}"
    out.append(line)
    out.append("")

    buses = status.get("buses") or []
    if buses:
        out += format_table(
            _bus_rows(buses),
            ("BUS", "KIND", "TARGET", "REQUESTS", "ERRORS", "TIMEOUTS", "OVERRUNS", "MEAN LATENCY"),
        )
        out.append("")
    if devices:
        out += format_table(
            _device_rows(devices, now),
            ("DEVICE", "BUS", "UNIT", "STATE", "REASON", "LAST GOOD", "LAST GOOD VALUES"),
        )
        out.append("")
    if alarms:
        out += format_table(alarm_rows(alarms, now), ALARM_HEADERS)
        out.append("")

    if versions:
        out.append("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------- alarms, tail


def render_alarms(result: Mapping[str, Any], now_ms: int) -> str:
    active = result.get("active") or []
    recent = result.get("recent") or []
    out = [f"active alarms: {len(active)}"]
    if active:
        out += format_table(alarm_rows(active, now_ms), ALARM_HEADERS)
        out += _why(active)
    out.append("")
    out.append(f"recent alarm events: {len(recent)}")
    if recent:
        rows = [
            [
                format_ts(int(e["ts_ms"])),
                e.get("state"),
                format_level(e.get("level")),
                f"{e.get('device')}/{e.get('point')}",
                e.get("rule"),
                format_value(e.get("value"), e.get("unit")),
                format_value(e.get("limit")),
                e.get("id"),
            ]
            for e in recent
        ]
        out += format_table(
            rows, ("TIME", "EVENT", "LEVEL", "POINT", "RULE", "VALUE", "LIMIT", "ID")
        )
        out += _why(recent)
    return "\n".join(out) + "\n"


def _why(alarms: Sequence[Mapping[str, Any]]) -> list[str]:
    """`why <id>: <evidence>` under a table, for the alarms that carry evidence."""
    return [
        f"  why {a.get('id')}: {format_evidence(a['evidence'], a.get('unit'))}"
        for a in alarms
        if a.get("evidence")
    ]


def render_tail_item(item: Mapping[str, Any]) -> str:
    """One line per reading (or alarm event) of `edge-agent tail`."""
    if item.get("type") == "dropped":
        return f"... {item.get('count')} items dropped: this terminal did not keep up"
    ts = format_ts(int(item.get("ts_ms", 0)))
    key = f"{item.get('device')}/{item.get('point')}"
    if item.get("type") == "alarm":
        text = (
            f"{ts}  ALARM {item.get('state')} level {format_level(item.get('level'))}  {key}  "
            f"{item.get('rule')}  value={format_value(item.get('value'), item.get('unit'))} "
            f"limit={format_value(item.get('limit'))}"
        )
        if item.get("eta_s") is not None:
            text += f" eta={format_duration(float(item['eta_s']) * 1000)}"
        if item.get("evidence"):
            text += f"  why: {format_evidence(item['evidence'], item.get('unit'))}"
        return text
    quality = str(item.get("quality", "?"))
    if quality != "good" and item.get("reason"):
        quality += f" ({item['reason']})"
    return f"{ts}  {key}  {format_value(item.get('value'), item.get('unit'))}  {quality}"


# ---------------------------------------------------------------- read, scan


def render_read(result: Mapping[str, Any]) -> str:
    words = list(result.get("registers") or [])
    table = str(result.get("table", "holding"))
    address = int(result.get("address", 0))
    where = result.get("bus") or result.get("target") or "?"
    head = f"{where} unit {result.get('unit')} {table} {address}"
    if len(words) > 1:
        head += f"..{address + len(words) - 1}"
    latency = result.get("latency_ms")
    if latency is not None:
        head += f" in {latency:.0f} ms"
    if result.get("point"):
        head = f"{result['point']}: {head}"
    out = [head]
    if table in BIT_TABLES:
        rows = [[address + i, w] for i, w in enumerate(words)]
        out += format_table(rows, ("ADDRESS", "BIT"))
    else:
        rows = [
            [address + i, f"0x{w:04X}", w, w - 0x10000 if w >= 0x8000 else w, f"{w:016b}"]
            for i, w in enumerate(words)
        ]
        out += format_table(rows, ("ADDRESS", "HEX", "UINT16", "INT16", "BITS"))
    if result.get("type"):
        how = str(result["type"])
        if result.get("byte_order"):
            how += f" {result['byte_order']}"
        if result.get("scale", 1) not in (1, 1.0) or result.get("offset", 0) not in (0, 0.0):
            how += f", scale {result.get('scale')}, offset {result.get('offset')}"
        quality = str(result.get("quality", "?"))
        if result.get("reason"):
            quality += f" ({result['reason']})"
        value = format_value(result.get("value"), result.get("eng_unit"))
        out.append(f"value: {value}  ({how})  quality: {quality}")
    return "\n".join(out) + "\n"


def render_progress(done: int, total: int, found: int, width: int = 30) -> str:
    """`[#########.....................]  42/247 units, 2 found`"""
    total = max(total, 1)
    filled = min(width, width * done // total)
    bar = "#" * filled + "." * (width - filled)
    return f"[{bar}] {done:>{len(str(total))}}/{total} units, {found} found"


def render_scan(result: Mapping[str, Any]) -> str:
    found = result.get("found") or []
    where = result.get("bus") or result.get("target")
    out = [
        f"scanned {result.get('scanned', 0)} unit ids on {where}"
        f" in {float(result.get('elapsed_s') or 0):.1f} s: {len(found)} answered"
    ]
    if found:
        rows = []
        for f in found:
            ident = f.get("identity") or {}
            answer = (
                f"exception {f.get('exception_code')}"
                if f.get("answer") == "exception"
                else " ".join(f"0x{w:04X}" for w in f.get("registers") or [])
            )
            latency = f.get("latency_ms")
            rows.append(
                [
                    f.get("unit"),
                    answer,
                    "-" if latency is None else f"{latency:.0f} ms",
                    f.get("device"),
                    " ".join(
                        str(ident[k])
                        for k in ("vendor", "product_code", "revision")
                        if ident.get(k)
                    )
                    or None,
                ]
            )
        out += format_table(rows, ("UNIT", "ANSWER", "LATENCY", "CONFIGURED AS", "IDENTITY"))
    return "\n".join(out) + "\n"
