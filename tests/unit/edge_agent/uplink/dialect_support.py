"""Rows and configs for the dialect unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_agent.config import GatewayConfig
from edge_agent.records import AlarmState, AlarmTransition
from edge_agent.store import OutboxRow, Store
from edge_agent.uplink.payloads import STORED_READINGS, readings_fragment
from tests.integration.mqtt_helpers import poll

DEVICES = [
    {"name": "pt-101", "bus": "b1", "unit": 1, "profile": "generic-pressure-float32"},
]


def config(tmp_path: Path, api: str, **mqtt: Any) -> GatewayConfig:
    cfg = GatewayConfig.model_validate(
        {
            "gateway": {"id": "gw-1", "site": "site-a", "data_dir": str(tmp_path)},
            "mqtt": {"api": api, **mqtt},
            "buses": [{"name": "b1", "kind": "modbus-tcp", "host": "127.0.0.1", "port": 502}],
            "devices": DEVICES,
        }
    )
    cfg._base_dir = tmp_path
    return cfg


def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)


def telemetry_row(seq: int, device: str, ts: int, values: dict[str, float]) -> OutboxRow:
    body = readings_fragment(poll(device, ts, values).readings)
    return OutboxRow(seq, "telemetry", "gw-1", device, None, len(values), body)


def alarm_row(seq: int, t: AlarmTransition) -> OutboxRow:
    return OutboxRow(seq, "alarm", "gw-1", t.device, t.point, 1, "", t)


def transition(
    device: str = "pt-101",
    point: str = "pressure",
    state: AlarmState = AlarmState.RAISED,
    *,
    rule: str = "water.pressure.low",
    kind: str = "threshold",
    level: int = 2,
) -> AlarmTransition:
    return AlarmTransition(
        "a-1", 1_700_000_000_000, device, point, rule, kind, level, state, 0.12, 0.2, "MPa"
    )
