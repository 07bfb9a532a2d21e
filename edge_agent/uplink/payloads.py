"""Payload shapes of the MQTT API (PRODUCT.md "MQTT API") and their two encodings.

JSON and msgpack carry the same schema. Non-finite numbers become null (JSON has no
NaN). Alarm events are encoded at send from the transitions the store keeps. Telemetry
readings are kept in the store as a pre-encoded JSON fragment (`StoredReadings`, handed
to the store by the agent) so that many poll cycles can be joined into one message
without decoding them again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import msgpack

from edge_agent.records import ActionEvent, AlarmTransition, Evidence, Json, Reading, finite

PayloadFormat = Literal["json", "msgpack"]


def dumps(obj: Any) -> str:
    """Compact JSON; refuses NaN so a stray one fails loudly in tests."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def reading_element(r: Reading) -> Json:
    out: Json = {"ts": r.ts_ms, "point": r.point, "value": finite(r.value)}
    out["quality"] = r.quality
    if r.quality != "good":
        out["reason"] = r.reason or "unknown"
    return out


def readings_fragment(readings: Iterable[Reading]) -> str:
    """`{...},{...}`: the inside of the readings array, ready to concatenate."""
    return ",".join(dumps(reading_element(r)) for r in readings)


class StoredReadings:
    """How the outbox keeps telemetry until it is sent (the store's ReadingsCodec): the
    inside of the JSON `readings` array, so the bodies of many polls join with a comma
    into one message without being decoded again (a long backlog drains in few, large
    messages)."""

    separator = ","

    def encode(self, readings: Sequence[Reading]) -> str:
        return readings_fragment(readings)


STORED_READINGS = StoredReadings()


def alarm_event(t: AlarmTransition, gateway: str) -> Json:
    """Every field of an alarm event except `seq`, which the outbox row supplies."""
    out: Json = {
        "id": t.alarm_id,
        "ts": t.ts_ms,
        "gateway": gateway,
        "device": t.device,
        "point": t.point,
        "rule": t.rule,
        "kind": t.kind,
        "level": t.level,
        "state": str(t.state),
        "value": finite(t.value),
        "limit": finite(t.limit),
        "unit": t.unit,
    }
    if t.eta_s is not None:
        out["eta_s"] = finite(t.eta_s)
    if t.evidence is not None:
        out["evidence"] = evidence(t.evidence)
    return out


def action_event(e: ActionEvent, gateway: str) -> Json:
    """Every field of an action event except `seq`, which the outbox row supplies."""
    out: Json = {
        "id": e.event_id,
        "ts": e.ts_ms,
        "gateway": gateway,
        "device": e.device,
        "point": e.point,
        "action": e.action,
        "alarm_id": e.alarm_id,
        "value": finite(e.value),
        "state": str(e.state),
    }
    if e.reason is not None:
        out["reason"] = e.reason
    if e.read_back is not None:
        out["read_back"] = finite(e.read_back)
    return out


def evidence(ev: Evidence) -> Json:
    """An alarm's `evidence` object (PRODUCT.md "Alarm evidence"): `window_s`, `baseline`,
    `delta`, `slope`, `eta_s` (null where they do not apply), `members` of a composite
    (each with its `ts`, `value`, `delta`), and `note` when the rule could not fully assess."""
    return ev.to_dict()


def status(
    state: Literal["online", "offline"], ts_ms: int, version: str, seq_mark: int | None = None
) -> Json:
    out: Json = {"state": state, "ts": ts_ms, "version": version}
    if seq_mark is not None:
        out["seq_mark"] = seq_mark  # the buffer's seq high-water mark, kept by the broker
    return out


def alarms_snapshot(active: Sequence[AlarmTransition], gateway: str, ts_ms: int) -> Json:
    """The retained `alarms` topic: the latest transition of every active alarm, no seq."""
    return {
        "ts": ts_ms,
        "gateway": gateway,
        "alarms": [alarm_event(t, gateway) for t in active],
    }


def health(
    *,
    gateway: str,
    ts_ms: int,
    uptime_s: float,
    buffer: Mapping[str, Any],
    buses: Mapping[str, Mapping[str, Any]] | None = None,
    devices: Mapping[str, Mapping[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Json:
    out: Json = {
        "ts": ts_ms,
        "gateway": gateway,
        "uptime_s": round(uptime_s, 3),
        "buffer": dict(buffer),
        "buses": {k: dict(v) for k, v in (buses or {}).items()},
        "devices": {k: dict(v) for k, v in (devices or {}).items()},
    }
    if extra:
        out.update(extra)
    return out


class Encoder:
    """Turns payload dicts into bytes in the configured format."""

    def __init__(self, fmt: PayloadFormat = "json") -> None:
        self.fmt: PayloadFormat = fmt

    def encode(self, obj: Json) -> bytes:
        if self.fmt == "json":
            return dumps(obj).encode()
        return bytes(msgpack.packb(obj, use_bin_type=True))

    def telemetry(self, seq: int, gateway: str, device: str, fragment: str) -> bytes:
        """A telemetry message from a stored readings fragment, without re-encoding JSON."""
        if self.fmt == "json":
            head = dumps({"seq": seq, "gateway": gateway, "device": device})
            return f'{head[:-1]},"readings":[{fragment}]}}'.encode()
        readings = json.loads(f"[{fragment}]")
        return self.encode({"seq": seq, "gateway": gateway, "device": device, "readings": readings})

    def alarm(self, seq: int, t: AlarmTransition, gateway: str) -> bytes:
        """An alarm event, encoded at send from the stored transition."""
        return self.encode({"seq": seq, **alarm_event(t, gateway)})

    def action(self, seq: int, e: ActionEvent, gateway: str) -> bytes:
        """An action event, encoded at send from the stored decision."""
        return self.encode({"seq": seq, **action_event(e, gateway)})

    def stored_alarm(self, seq: int, stored: str) -> bytes:
        """An alarm event that edge-agent 0.1 stored as JSON (all fields but seq): rows
        of a buffer written before the upgrade still go out as they were."""
        return self.encode({"seq": seq, **json.loads(stored)})


def decode(data: bytes, fmt: PayloadFormat = "json") -> Any:
    """The inverse of Encoder.encode (tests, the CLI's `tail`)."""
    if fmt == "json":
        return json.loads(data)
    return msgpack.unpackb(data, raw=False)
