"""A gas alarm drives a fan and a siren on a simulated relay module: the agent as a
subprocess, a real pymodbus server, a real mosquitto. Interlocks, dry-run, a restart
with the alarm still active, the agent killed between a write and its event, and the
`write` command (signed and unsigned, allowed and not, out of range)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from drivers.profiles import load_profiles
from edge_agent.clock import now_ms
from edge_agent.uplink.commands import sign
from edge_agent.uplink.sparkplug import payload as sp
from fieldsim.modbus_device import SimulatedDevice
from fieldsim.modbus_server import serve_tcp
from tests.conftest import Broker
from tests.integration.agent_process import (
    AgentProcess,
    Platform,
    agent_process,
    gateway_toml,
    subscribe_forever,
)
from tests.integration.test_asyncapi import channel_patterns, validator

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROOT = "lifeline/test-site/gw-test"
RULES = """\
[[rules]]
id = "gas.high"
kind = "threshold"
quantity = "methane_lel"
direction = "above"
levels = [ { level = 2, limit = 20.0 } ]
hysteresis = 1.0

[[actions]]
id = "gas.ventilate"
on = { rule = "gas.high", level_at_most = 2 }
scope = ["zone"]
set = [ { point = "relay1", value = 1 }, { point = "relay2", value = 1 } ]
on_clear = [ { point = "relay2", value = 0 } ]
unless = [ { point = "input1", above = 0.5 } ]
"""
ACTION_FIELDS = {"id", "seq", "ts", "gateway", "device", "point", "action", "alarm_id",
                 "value", "state"}  # fmt: skip
KEY = b"0123456789abcdef0123456789abcdef"


class Value:
    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, _t: float) -> float:
        return self.value


@dataclass
class Site:
    methane: Value
    fan_fault: Value
    io: SimulatedDevice
    config: Path
    platform: Platform
    broker: Broker
    log: Path

    def actions(self, point: str) -> list[dict[str, Any]]:
        return self.platform.of(f"action/io-7/{point}")

    def coil_writes(self, address: int) -> list[int]:
        return [v[0] for t, a, v in self.io.writes if t == "coil" and a == address]

    def agent(self) -> contextlib.AbstractAsyncContextManager[AgentProcess]:
        return agent_process(self.config, self.log)

    async def command(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        async with aiomqtt.Client("127.0.0.1", self.broker.port) as client:
            await client.publish(f"{ROOT}/cmd/{name}", json.dumps(payload), qos=1)

        def reply() -> dict[str, Any] | None:
            got = [p for p in self.platform.of(f"cmd/{name}/reply") if p["id"] == payload["id"]]
            return got[0] if got else None

        await self.platform.wait_for(lambda: reply() is not None, 20)
        out = reply()
        assert out is not None
        return out


@contextlib.asynccontextmanager
async def site(tmp_path: Path, broker: Broker, gateway: str = "", mqtt: str = ""
               ) -> AsyncIterator[Site]:  # fmt: skip
    profiles = load_profiles([])
    methane, fan_fault = Value(2.0), Value(0.0)
    gas = SimulatedDevice(1, profiles["generic-gas-lel-int16"], {"methane": methane})
    io = SimulatedDevice(2, profiles["waveshare-modbus-relay-d"], {"input1": fan_fault})
    async with serve_tcp([gas, io]) as port:
        os.makedirs(tmp_path, exist_ok=True)
        (tmp_path / "rules.toml").write_text(RULES)
        (tmp_path / "commands.key").write_bytes(KEY)
        text = gateway_toml(
            tmp_path / "data", broker.port,
            devices=[
                {"name": "gas-7", "bus": "mh", "unit": 1, "poll_interval_s": 0.2,
                 "profile": "generic-gas-lel-int16", "tags": {"zone": "mh-7"}},
                {"name": "io-7", "bus": "mh", "unit": 2, "poll_interval_s": 0.5,
                 "profile": "waveshare-modbus-relay-d", "tags": {"zone": "mh-7"}},
            ],
            buses=[{"name": "mh", "kind": "modbus-tcp", "host": "127.0.0.1", "port": port,
                    "timeout_s": 8.0}],
            rules=["rules.toml"], extra=mqtt,
        )  # fmt: skip
        config = tmp_path / "gateway.toml"
        config.write_text(text.replace("[gateway]\n", f"[gateway]\n{gateway}\n", 1))
        platform = Platform()
        sub = asyncio.create_task(
            subscribe_forever(platform, broker.port, f"{ROOT}/#", "platform-a", False)
        )
        try:
            yield Site(methane, fan_fault, io, config, platform, broker, tmp_path / "agent.log")
        finally:
            sub.cancel()


AUTO = 'actions = "auto"'


async def test_gas_alarm_starts_fan_and_siren_and_the_platform_hears_every_decision(
    tmp_path: Path, broker: Broker
) -> None:
    async with site(tmp_path, broker, AUTO) as s, s.agent() as agent:
        await s.platform.wait_for(lambda: s.platform.of("telemetry/gas-7"), 30)
        s.methane.value = 30.0
        await s.platform.wait_for(lambda: s.actions("relay1") and s.actions("relay2"), 30)
        s.methane.value = 2.0
        await s.platform.wait_for(lambda: len(s.actions("relay2")) == 2, 30)
        assert await agent.stop() == 0, agent.log_text()
    [alarm] = [a for a in s.platform.of("alarm/gas-7/methane") if a["state"] == "raised"]
    fan, siren_on = s.actions("relay1")[0], s.actions("relay2")[0]
    assert fan.keys() >= ACTION_FIELDS
    assert (fan["state"], fan["value"], fan["read_back"]) == ("done", 1, 1)
    assert (fan["action"], fan["alarm_id"], fan["device"]) == ("gas.ventilate", alarm["id"], "io-7")
    assert siren_on["state"] == "done"
    siren_off = s.actions("relay2")[1]
    assert (siren_off["state"], siren_off["value"]) == ("done", 0)
    # Decided after the alarm was stored: the alarm's seq comes first.
    assert alarm["seq"] < fan["seq"] < siren_on["seq"] < siren_off["seq"]
    assert s.coil_writes(0) == [1]  # the fan stays on when the alarm clears
    # Every action event validates against docs/asyncapi.yaml, on its channel.
    regex, ref = channel_patterns(ROOT)["action"]
    events = [(t, p) for t, p, _ in s.platform.messages if regex.match(t)]
    assert len(events) == 3
    for _, payload in events:
        validator(ref).validate(payload)
    assert s.coil_writes(1) == [1, 0]


async def test_interlock_blocks_and_dry_run_writes_nothing(tmp_path: Path, broker: Broker) -> None:
    async with site(tmp_path / "a", broker, AUTO) as s, s.agent() as agent:
        s.fan_fault.value = 1.0  # the fan's fault contact is closed
        await s.platform.wait_for(lambda: s.platform.of("telemetry/io-7"), 30)
        s.methane.value = 30.0
        await s.platform.wait_for(lambda: s.actions("relay1") and s.actions("relay2"), 30)
        assert await agent.stop() == 0, agent.log_text()
    blocked = s.actions("relay1")[0]
    assert blocked["state"] == "blocked"
    assert blocked["reason"] == "interlock io-7/input1 above 0.5 (read 1)"
    assert s.io.writes == []

    async with site(tmp_path / "b", broker) as s, s.agent() as agent:  # default: dry-run
        await s.platform.wait_for(lambda: s.platform.of("telemetry/io-7"), 30)
        s.methane.value = 30.0
        await s.platform.wait_for(lambda: s.actions("relay1") and s.actions("relay2"), 30)
        assert await agent.stop() == 0, agent.log_text()
    assert [e["state"] for e in s.actions("relay1") + s.actions("relay2")] == ["dry-run"] * 2
    assert s.io.writes == []


async def test_restart_with_the_alarm_active_writes_nothing_twice(
    tmp_path: Path, broker: Broker
) -> None:
    async with site(tmp_path, broker, AUTO) as s:
        async with s.agent() as agent:
            await s.platform.wait_for(lambda: s.platform.of("telemetry/gas-7"), 30)
            s.methane.value = 30.0
            await s.platform.wait_for(lambda: s.actions("relay1") and s.actions("relay2"), 30)
            assert await agent.stop() == 0, agent.log_text()
        polls_before = len(s.platform.of("telemetry/gas-7"))
        async with s.agent() as agent:
            # Several polls of the still-high gas after the restart, then stop.
            await s.platform.wait_for(
                lambda: len(s.platform.of("telemetry/gas-7")) >= polls_before + 5, 30
            )
            assert await agent.stop() == 0, agent.log_text()
    assert (s.coil_writes(0), s.coil_writes(1)) == ([1], [1])
    assert (len(s.actions("relay1")), len(s.actions("relay2"))) == (1, 1)


async def test_killed_between_the_write_and_its_event_the_event_arrives_once(
    tmp_path: Path, broker: Broker
) -> None:
    async with site(tmp_path, broker, AUTO) as s:
        s.io.stall_after_write_s = 5.0  # the read-back of the first write hangs
        async with s.agent() as agent:
            await s.platform.wait_for(lambda: s.platform.of("telemetry/gas-7"), 30)
            s.methane.value = 30.0
            async with asyncio.timeout(30):
                await s.io.written.wait()
            await agent.stop(signal.SIGKILL)
        s.io.stall_after_write_s = 0.0
        assert s.actions("relay1") == []
        async with s.agent() as agent:
            await s.platform.wait_for(lambda: s.actions("relay1") and s.actions("relay2"), 30)
            assert await agent.stop() == 0, agent.log_text()
    [fan] = s.actions("relay1")
    assert (fan["state"], fan["read_back"]) == ("done", 1)
    assert fan["reason"].startswith("gateway stopped during the write")
    # The siren, not reached before the kill, is written after the restart; the fan
    # is not written again.
    assert (s.coil_writes(0), s.coil_writes(1)) == ([1], [1])
    assert [e["state"] for e in s.actions("relay2")] == ["done"]


async def test_write_command_allowed_signed_and_in_range_only(
    tmp_path: Path, broker: Broker
) -> None:
    signed = '[mqtt.commands]\nallow = ["ping", "write"]\nhmac_key_file = "commands.key"\n'
    async with site(tmp_path, broker, mqtt=signed) as s, s.agent() as agent:
        # Telemetry is drained only after the command subscription is in place.
        await s.platform.wait_for(lambda: s.platform.of("telemetry/gas-7"), 30)
        unsigned = await s.command("write", {"id": "w1", "args": {"point": "io-7/relay3",
                                                                   "value": 1}})  # fmt: skip
        args = {"point": "io-7/relay3", "value": 1}
        ts = now_ms()
        ok = await s.command("write", {"id": "w2", "args": args, "ts": ts,
                                       "sig": sign(KEY, "write", "w2", ts, args)})  # fmt: skip
        far = {"point": "io-7/relay3", "value": 5}
        ts = now_ms()
        sig = sign(KEY, "write", "w3", ts, far)
        out_of_range = await s.command("write", {"id": "w3", "args": far, "ts": ts, "sig": sig})
        await s.platform.wait_for(lambda: len(s.actions("relay3")) == 2, 30)
        assert await agent.stop() == 0, agent.log_text()
    assert (unsigned["ok"], unsigned["error"]) == (
        False,
        "unsigned command: `ts` and `sig` are required",
    )
    assert ok["ok"] is True
    assert (ok["result"]["read_back"], ok["result"]["state"]) == (1, "done")
    assert out_of_range["ok"] is False
    assert "outside write_range [0, 1]" in out_of_range["error"]
    assert s.coil_writes(2) == [1]
    done, refused = s.actions("relay3")
    assert (done["action"], done["state"], done["alarm_id"]) == ("command", "done", None)
    assert (refused["state"], refused["value"]) == ("blocked", 5)


async def test_write_command_not_allowed_by_default_and_the_cli_writes_through_the_daemon(
    tmp_path: Path, broker: Broker
) -> None:
    async with site(tmp_path, broker) as s, s.agent() as agent:
        # Telemetry is drained only after the command subscription is in place.
        await s.platform.wait_for(lambda: s.platform.of("telemetry/gas-7"), 30)
        reply = await s.command("write", {"id": "w1", "args": {"point": "io-7/relay3",
                                                               "value": 1}})  # fmt: skip
        assert s.io.writes == []
        done = await cli(s.config, "write", "io-7/relay4", "1", "--json")
        refused = await cli(s.config, "write", "io-7/input1", "1")
        await s.platform.wait_for(lambda: s.actions("relay4") and s.actions("input1"), 30)
        assert await agent.stop() == 0, agent.log_text()
    assert reply["ok"] is False
    assert reply["error"].startswith("command 'write' is not allowed here")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["read_back"] == 1
    assert refused.returncode == 1
    assert "point input1 is not writable" in refused.stderr
    assert s.io.writes == [("coil", 3, (1,))]
    assert [e["state"] for e in s.actions("relay4") + s.actions("input1")] == ["done", "blocked"]


async def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`edge-agent ...` as a user runs it, in a thread: the simulator shares this loop."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "edge_agent", *args, "-c", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


async def test_write_command_unsigned_where_commands_are_not_signed(
    tmp_path: Path, broker: Broker
) -> None:
    allowed = '[mqtt.commands]\nallow = ["ping", "write"]\n'
    async with site(tmp_path, broker, mqtt=allowed) as s, s.agent() as agent:
        await s.platform.wait_for(lambda: s.platform.of("telemetry/gas-7"), 30)
        reply = await s.command("write", {"id": "w1", "args": {"point": "io-7/relay3",
                                                               "value": 1}})  # fmt: skip
        assert await agent.stop() == 0, agent.log_text()
    assert (reply["ok"], reply["result"]["read_back"]) == (True, 1)
    assert s.coil_writes(2) == [1]


async def test_sparkplug_dcmd_writes_a_writable_point_through_the_write_command(
    tmp_path: Path, broker: Broker
) -> None:
    """In the Sparkplug dialect a DCMD metric named after a writable point is the `write`
    command on it: allow-listed, read back, and audited (the fan's relay is written)."""
    mqtt = 'api = "sparkplug-b"\n[mqtt.commands]\nallow = ["ping", "write"]\n'
    async with site(tmp_path, broker, mqtt=mqtt) as s, s.agent() as agent:
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.subscribe("spBv1.0/test-site/#", qos=1)
            async with asyncio.timeout(30):
                async for msg in client.messages:
                    if msg.topic.value == "spBv1.0/test-site/DBIRTH/gw-test/io-7":
                        break
            dcmd = sp.payload(now_ms(), None, [("relay3", sp.Value(sp.BOOLEAN, True, now_ms()))])
            await client.publish("spBv1.0/test-site/DCMD/gw-test/io-7", dcmd, qos=1)
            async with asyncio.timeout(20):
                while s.coil_writes(2) != [1]:  # noqa: ASYNC110 (the simulator has no event)
                    await asyncio.sleep(0.1)
        assert await agent.stop() == 0, agent.log_text()
    assert s.coil_writes(2) == [1]
