"""A Modbus register becomes an MQTT alarm: real pymodbus server, real mosquitto,
the agent as a subprocess (`python -m edge_agent run`)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.profiles import load_profiles
from fieldsim.modbus_device import SimulatedDevice
from fieldsim.modbus_server import serve_tcp
from tests.conftest import Broker
from tests.integration.agent_process import (
    Platform,
    agent_process,
    gateway_toml,
    subscribe_forever,
)

pytestmark = pytest.mark.integration

RULES = """\
[[rules]]
id = "test.pressure.low"
kind = "threshold"
quantity = "pressure"
direction = "below"
levels = [ { level = 3, limit = 0.20 }, { level = 1, limit = 0.10 } ]
hysteresis = 0.01
on_delay_s = 0
off_delay_s = 0
"""

ALARM_FIELDS = {
    "id", "seq", "ts", "gateway", "device", "point", "rule", "kind", "level", "state",
    "value", "limit", "unit",
}  # fmt: skip


class Field:
    """The process value behind the simulated transmitter, set by the test."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, _t: float) -> float:
        return self.value


@contextlib.asynccontextmanager
async def pressure_site(tmp_path: Path, broker: Broker) -> AsyncIterator[tuple[Field, Path]]:
    pressure = Field(0.35)
    profile = load_profiles([])["generic-pressure-float32"]
    async with serve_tcp([SimulatedDevice(1, profile, {"pressure": pressure})]) as port:
        (tmp_path / "rules.toml").write_text(RULES)
        config = tmp_path / "gateway.toml"
        config.write_text(
            gateway_toml(
                tmp_path / "data",
                broker.port,
                devices=[
                    {
                        "name": "pt-101",
                        "bus": "plant",
                        "unit": 1,
                        "profile": "generic-pressure-float32",
                        "poll_interval_s": 0.2,
                        "tags": {"zone": "dma-3"},
                    }
                ],
                buses=[{"name": "plant", "kind": "modbus-tcp", "host": "127.0.0.1", "port": port}],
                rules=["rules.toml"],
            )
        )
        yield pressure, config


async def test_alarm_reaches_platform_with_every_contract_field(
    tmp_path: Path, broker: Broker
) -> None:
    platform = Platform()
    root = "lifeline/test-site/gw-test"
    async with pressure_site(tmp_path, broker) as (pressure, config):
        sub = asyncio.create_task(
            subscribe_forever(platform, broker.port, f"{root}/#", "platform-1", False)
        )
        try:
            async with agent_process(config, tmp_path / "agent.log") as agent:
                await platform.wait_for(lambda: platform.of("status"), 30)
                assert platform.of("status")[-1]["state"] == "online"
                await platform.wait_for(lambda: platform.of("telemetry/pt-101"), 30)
                pressure.value = 0.15
                await platform.wait_for(lambda: platform.of("alarm/pt-101/pressure"), 30)
                pressure.value = 0.35
                await platform.wait_for(
                    lambda: any(a["state"] == "cleared" for a in platform.of("alarm/pt-101")), 30
                )
                assert await agent.stop() == 0, agent.log_text()
                await platform.wait_for(lambda: platform.of("status")[-1]["state"] == "offline", 10)
        finally:
            sub.cancel()

    alarms = platform.of("alarm/pt-101/pressure")
    raised = alarms[0]
    assert raised.keys() >= ALARM_FIELDS
    assert raised["state"] == "raised"
    assert (raised["gateway"], raised["device"], raised["point"]) == (
        "gw-test",
        "pt-101",
        "pressure",
    )
    assert (raised["rule"], raised["kind"], raised["level"]) == (
        "test.pressure.low",
        "threshold",
        3,
    )
    assert raised["value"] == pytest.approx(0.15, abs=1e-6)
    assert raised["limit"] == pytest.approx(0.20)
    assert raised["unit"] == "MPa"
    cleared = next(a for a in alarms if a["state"] == "cleared")
    assert cleared["id"] == raised["id"]
    assert cleared["seq"] > raised["seq"]
    telemetry = platform.of("telemetry/pt-101")[0]
    assert telemetry["device"] == "pt-101"
    assert telemetry["readings"][0]["point"] == "pressure"
    assert telemetry["readings"][0]["quality"] == "good"


async def test_broker_restart_loses_no_alarm(tmp_path: Path, persistent_broker: Broker) -> None:
    broker = persistent_broker
    platform = Platform()
    root = "lifeline/test-site/gw-test"
    async with pressure_site(tmp_path, broker) as (pressure, config):
        sub = asyncio.create_task(
            subscribe_forever(platform, broker.port, f"{root}/alarm/#", "platform-2", True)
        )
        try:
            async with agent_process(config, tmp_path / "agent.log") as agent:
                pressure.value = 0.15  # raised (level 3)
                await platform.wait_for(lambda: len(platform.messages) >= 1, 30)
                await asyncio.sleep(1.0)  # the subscription is saved in the broker's store
                broker.stop()
                # While the broker is away: level 1, back to level 3, cleared, raised again.
                for value in (0.05, 0.15, 0.35, 0.12):
                    pressure.value = value
                    await asyncio.sleep(1.5)
                db = sqlite3.connect(tmp_path / "data" / "buffer.db")
                stored = db.execute("SELECT count(*) FROM alarms").fetchone()[0]
                db.close()
                assert stored >= 5
                broker.start()
                await platform.wait_for(lambda: len(platform.messages) >= stored, 60)
                assert await agent.stop() == 0, agent.log_text()
        finally:
            sub.cancel()

    events = [p for _, p, _ in platform.messages]
    by_seq = {e["seq"]: e for e in events}
    # A duplicate only ever repeats the same seq with the same content.
    for e in events:
        assert by_seq[e["seq"]] == e
    states = [by_seq[s]["state"] for s in sorted(by_seq)]
    assert states[:5] == ["raised", "level-changed", "level-changed", "cleared", "raised"]
    ids = [by_seq[s]["id"] for s in sorted(by_seq)]
    assert len(set(ids[:4])) == 1
    assert ids[4] != ids[0]


async def test_agent_killed_mid_alarm_resumes_it_after_restart(
    tmp_path: Path, broker: Broker
) -> None:
    platform = Platform()
    root = "lifeline/test-site/gw-test"
    async with pressure_site(tmp_path, broker) as (pressure, config):
        sub = asyncio.create_task(
            subscribe_forever(platform, broker.port, f"{root}/alarm/#", "platform-3", False)
        )
        try:
            async with agent_process(config, tmp_path / "agent-1.log") as agent:
                pressure.value = 0.15
                await platform.wait_for(lambda: len(platform.messages) >= 1, 30)
                pressure.value = 0.05  # level 1 now; the agent dies around it
                await asyncio.sleep(0.5)
                await agent.stop(signal.SIGKILL)
            async with agent_process(config, tmp_path / "agent-2.log") as agent:
                await asyncio.sleep(1.0)
                pressure.value = 0.35
                await platform.wait_for(
                    lambda: any(p["state"] == "cleared" for _, p, _ in platform.messages), 30
                )
                assert await agent.stop() == 0, agent.log_text()
        finally:
            sub.cancel()
    by_seq = {p["seq"]: p for _, p, _ in platform.messages}
    for _, p, _ in platform.messages:
        assert by_seq[p["seq"]] == p  # a duplicate only ever repeats the same message
    events = [by_seq[s] for s in sorted(by_seq)]
    assert [e["state"] for e in events] == ["raised", "level-changed", "cleared"]
    assert len({e["id"] for e in events}) == 1
    assert [e["level"] for e in events[:2]] == [3, 1]
