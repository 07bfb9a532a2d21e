"""The running agent as operators meet it: device offline alarms, MQTT commands, the
CLI over the control socket, SIGHUP reload, systemd notifications. Real pymodbus
server, real mosquitto, the agent as a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from drivers.profiles import load_profiles
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

pytestmark = pytest.mark.integration

ROOT_TOPIC = "lifeline/test-site/gw-test"
RULES = """\
[[rules]]
id = "test.pressure.low"
kind = "threshold"
quantity = "pressure"
direction = "below"
levels = [ { level = 3, limit = 0.20 } ]

[[rules]]
id = "test.level.flood"
kind = "threshold"
quantity = "level"
direction = "above"
levels = [ { level = 2, limit = 1.0 } ]
modes = ["flood-season"]
"""


class Field:
    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, _t: float) -> float:
        return self.value


@dataclass
class Site:
    pressure: Field
    level: Field
    pt: SimulatedDevice
    lv: SimulatedDevice
    config: Path
    platform: Platform
    agent: AgentProcess
    broker: Broker

    async def command(self, name: str, args: dict[str, Any], cmd_id: str) -> dict[str, Any]:
        """Send a command as a platform would and wait for its reply."""
        async with aiomqtt.Client("127.0.0.1", self.broker.port) as client:
            await client.publish(
                f"{ROOT_TOPIC}/cmd/{name}", json.dumps({"id": cmd_id, "args": args}), qos=1
            )
        await self.platform.wait_for(lambda: self.reply(name, cmd_id) is not None, 20)
        reply = self.reply(name, cmd_id)
        assert reply is not None
        return reply

    def reply(self, name: str, cmd_id: str) -> dict[str, Any] | None:
        for p in self.platform.of(f"cmd/{name}/reply"):
            if p.get("id") == cmd_id:
                return p
        return None

    def events(self, device: str, point: str) -> list[dict[str, Any]]:
        return self.platform.of(f"alarm/{device}/{point}")

    async def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        # In a thread: the simulated devices share this test's event loop.
        return await asyncio.to_thread(self._cli, *args)

    def _cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "edge_agent", *args, "-c", str(self.config)],
            capture_output=True,
            text=True,
            timeout=60,
        )


@contextlib.asynccontextmanager
async def site(tmp_path: Path, broker: Broker, env: dict[str, str] | None = None,
               pt_extra: dict[str, Any] | None = None) -> AsyncIterator[Site]:  # fmt: skip
    profiles = load_profiles([])
    pressure, level = Field(0.35), Field(0.5)
    pt = SimulatedDevice(1, profiles["generic-pressure-float32"], {"pressure": pressure})
    lv = SimulatedDevice(3, profiles["generic-level-int16"], {"level": level})
    async with serve_tcp([pt, lv]) as port:
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
                        "poll_interval_s": 0.2,
                        "profile": "generic-pressure-float32",
                        "offline_after": 2,
                        **(pt_extra or {}),
                    },
                    {
                        "name": "lv-301",
                        "bus": "plant",
                        "unit": 3,
                        "poll_interval_s": 0.2,
                        "profile": "generic-level-int16",
                    },
                ],
                buses=[
                    {
                        "name": "plant",
                        "kind": "modbus-tcp",
                        "host": "127.0.0.1",
                        "port": port,
                        "timeout_s": 0.3,
                        "retries": 0,
                    },
                    # Defined, no devices yet: what an installer scans before adding them.
                    {"name": "spare", "kind": "modbus-tcp", "host": "127.0.0.1", "port": port},
                ],
                rules=["rules.toml"],
                extra=(
                    '[mqtt.commands]\nallow = ["ping", "ack", "reload", "mode", "read", "diag"]\n'
                ),
            )
        )
        platform = Platform()
        sub = asyncio.create_task(
            subscribe_forever(platform, broker.port, f"{ROOT_TOPIC}/#", "platform-ops", False)
        )
        try:
            async with agent_process(config, tmp_path / "agent.log", env=env) as agent:
                s = Site(pressure, level, pt, lv, config, platform, agent, broker)
                await platform.wait_for(lambda: bool(platform.of("telemetry/lv-301")), 30)
                yield s
                assert await agent.stop() == 0, agent.log_text()
        finally:
            sub.cancel()


def assert_contract(platform: Platform) -> None:
    """Every message the agent published validates against docs/asyncapi.yaml."""
    patterns = channel_patterns(ROOT_TOPIC)
    for topic, payload, _ in platform.messages:
        if topic.startswith(f"{ROOT_TOPIC}/cmd/") and not topic.endswith("/reply"):
            continue  # what the test itself sent as a platform
        matches = [ref for regex, ref in patterns.values() if regex.match(topic)]
        assert matches, f"{topic} is not a channel of docs/asyncapi.yaml"
        errors = list(validator(matches[0]).iter_errors(payload))
        assert not errors, f"{topic}: {errors[0].message}"


def readings_of(s: Site, device: str) -> int:
    return sum(len(m["readings"]) for m in s.platform.of(f"telemetry/{device}"))


async def test_silent_device_raises_offline_alarm_and_others_keep_polling(
    tmp_path: Path, broker: Broker
) -> None:
    async with site(tmp_path, broker) as s:
        s.pt.silent = True
        await s.platform.wait_for(lambda: bool(s.events("pt-101", "_device")), 20)
        raised = s.events("pt-101", "_device")[0]
        assert (raised["kind"], raised["rule"], raised["state"]) == ("device", "offline", "raised")
        before = readings_of(s, "lv-301")
        await asyncio.sleep(2.0)
        # The healthy device on the same bus keeps its rate (0.2 s; at least half of it).
        assert readings_of(s, "lv-301") - before >= 5

        status = await s.cli("status", "--json")
        assert status.returncode == 0, status.stderr
        st = json.loads(status.stdout)
        dev = {d["name"]: d for d in st["devices"]}
        assert dev["pt-101"]["state"] == "offline"
        assert dev["pt-101"]["reason"] == "timeout"
        assert dev["lv-301"]["state"] == "ok"
        assert any(a["rule"] == "offline" for a in st["alarms"])
        assert st["uplink"]["state"] == "connected"
        assert st["gateway"]["started_ms"] <= st["uplink"]["since_ms"] <= st["now_ms"]
        human = await s.cli("status")
        assert human.returncode == 0
        assert "pt-101" in human.stdout
        assert "uplink  connected  127.0.0.1:" in human.stdout
        assert "since" in human.stdout
        assert "timeout" in human.stdout

        s.pt.silent = False
        await s.platform.wait_for(
            lambda: any(e["state"] == "cleared" for e in s.events("pt-101", "_device")), 30
        )
        cleared = next(e for e in s.events("pt-101", "_device") if e["state"] == "cleared")
        assert cleared["id"] == raised["id"]
        assert_contract(s.platform)


async def test_commands_ack_read_mode_reload_and_bad_ones(tmp_path: Path, broker: Broker) -> None:
    async with site(tmp_path, broker) as s:
        s.pressure.value = 0.15
        await s.platform.wait_for(lambda: bool(s.events("pt-101", "pressure")), 20)
        alarm_id = s.events("pt-101", "pressure")[0]["id"]

        reply = await s.command("ack", {"id": alarm_id}, "c-1")
        assert reply["ok"] is True, reply
        await s.platform.wait_for(
            lambda: any(e["state"] == "acked" for e in s.events("pt-101", "pressure")), 10
        )
        again = await s.command("ack", {"id": alarm_id}, "c-2")
        assert again["ok"] is False

        read = await s.command("read", {"point": "pt-101/pressure"}, "c-3")
        assert read["ok"] is True
        assert read["result"]["value"] == pytest.approx(0.15, abs=1e-6)

        s.level.value = 1.5  # above the flood rule's limit, but we are in mode "normal"
        await asyncio.sleep(1.0)
        assert not s.events("lv-301", "level")
        typo = await s.command("mode", {"mode": "flod-season"}, "c-4a")
        assert typo["ok"] is False
        assert "flood-season" in typo["error"]  # says which modes there are
        mode = await s.command("mode", {"mode": "flood-season"}, "c-4")
        assert mode["ok"] is True
        await s.platform.wait_for(lambda: bool(s.events("lv-301", "level")), 10)

        (tmp_path / "rules.toml").write_text(RULES.replace('"below"', '"sideways"'))
        bad = await s.command("reload", {}, "c-5")
        assert bad["ok"] is False
        assert "rules.toml" in bad["error"]
        assert "direction" in bad["error"]
        s.pressure.value = 0.35  # the running rules still work: the alarm clears
        await s.platform.wait_for(
            lambda: any(e["state"] == "cleared" for e in s.events("pt-101", "pressure")), 10
        )
        for name, payload in (("frobnicate", {"id": "c-6", "args": {}}),
                              ("ack", {"id": "c-7", "args": {"nope": 1}})):  # fmt: skip
            async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                await client.publish(f"{ROOT_TOPIC}/cmd/{name}", json.dumps(payload), qos=1)
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.publish(f"{ROOT_TOPIC}/cmd/diag", b"{not json", qos=1)
        await s.platform.wait_for(
            lambda: (
                s.reply("frobnicate", "c-6") is not None
                and s.reply("ack", "c-7") is not None
                and bool(s.platform.of("cmd/diag/reply"))
            ),
            10,
        )
        assert s.reply("frobnicate", "c-6")["ok"] is False  # type: ignore[index]
        assert s.reply("ack", "c-7")["ok"] is False  # type: ignore[index]
        assert s.platform.of("cmd/diag/reply")[0]["ok"] is False
        diag = await s.command("diag", {}, "c-8")
        assert diag["ok"] is True
        assert {d["name"] for d in diag["result"]["devices"]} == {"pt-101", "lv-301"}
        assert_contract(s.platform)


async def test_sighup_reloads_rules_keeping_unchanged_alarms(
    tmp_path: Path, broker: Broker
) -> None:
    async with site(tmp_path, broker) as s:
        s.pressure.value = 0.15
        await s.platform.wait_for(lambda: bool(s.events("pt-101", "pressure")), 20)
        first = s.events("pt-101", "pressure")[0]
        # Add a rule; leave the pressure rule as it is.
        (tmp_path / "rules.toml").write_text(
            RULES + '\n[[rules]]\nid = "test.level.any"\nkind = "threshold"\n'
            'quantity = "level"\ndirection = "above"\nlevels = [ { level = 4, limit = 0.2 } ]\n'
        )
        assert s.agent.proc is not None
        s.agent.proc.send_signal(signal.SIGHUP)
        await s.platform.wait_for(lambda: bool(s.events("lv-301", "level")), 15)
        await asyncio.sleep(0.5)
        # The unchanged rule's alarm kept its id: no clear, no second raise.
        states = [e["state"] for e in s.events("pt-101", "pressure") if e["id"] == first["id"]]
        assert states == ["raised"]
        assert len(s.events("pt-101", "pressure")) == 1


async def test_systemd_ready_watchdog_and_stopping(tmp_path: Path, broker: Broker) -> None:
    path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.setblocking(False)
    got: list[str] = []
    env = {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"}
    try:
        async with site(tmp_path, broker, env=env):
            deadline = asyncio.get_running_loop().time() + 10
            while asyncio.get_running_loop().time() < deadline:
                with contextlib.suppress(BlockingIOError):
                    got.append(listener.recv(4096).decode())
                if sum("WATCHDOG=1" in m for m in got) >= 3:
                    break
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        with contextlib.suppress(BlockingIOError):
            while True:
                got.append(listener.recv(4096).decode())
    finally:
        listener.close()
    assert any("READY=1" in m for m in got)
    assert sum("WATCHDOG=1" in m for m in got) >= 3
    assert any("STOPPING=1" in m for m in got)


async def test_cli_reads_scans_tails_and_exports_through_the_running_agent(
    tmp_path: Path, broker: Broker
) -> None:
    async with site(tmp_path, broker) as s:
        s.pressure.value = 0.15
        await s.platform.wait_for(lambda: bool(s.events("pt-101", "pressure")), 20)

        r = await s.cli("read", "pt-101/pressure", "--json")
        assert r.returncode == 0, r.stderr
        read = json.loads(r.stdout)
        assert read["value"] == pytest.approx(0.15, abs=1e-6)
        assert len(read["registers"]) == 2
        assert read["interpretations"]["float32 ABCD"] == pytest.approx(0.15, abs=1e-6)

        r = await s.cli("read", "--bus", "plant", "--unit", "3", "--address", "0", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["registers"] == [500]  # 0.5 m at 1 mm per count

        r = await s.cli("read", "--bus", "plant", "--unit", "9", "--address", "0")
        assert r.returncode == 1
        assert r.stderr.count("\n") == 1  # one line: which bus, unit, register, why
        assert "plant unit 9" in r.stderr

        r = await s.cli("scan", "--bus", "plant", "--units", "1-4", "--json")
        assert r.returncode == 0, r.stderr
        scan = json.loads(r.stdout)
        found = {f["unit"]: f for f in scan["found"]}
        assert set(found) == {1, 3}
        assert found[1]["device"] == "pt-101"
        assert "opening the bus directly" not in r.stderr  # through the agent

        # A bus the agent does not poll (no devices yet): a connection of its own.
        r = await s.cli("scan", "--bus", "spare", "--units", "1-4", "--timeout-each", "0.2",
                        "--json")  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert "opening the bus directly" not in r.stderr
        spare = json.loads(r.stdout)
        assert ([f["unit"] for f in spare["found"]], spare["timeout_each_s"]) == ([1, 3], 0.2)

        r = await s.cli("alarms", "--json")
        assert r.returncode == 0, r.stderr
        assert [a["rule"] for a in json.loads(r.stdout)["active"]] == ["test.pressure.low"]

        r = await s.cli("tail", "pt-101/*", "--count", "3", "--json")
        assert r.returncode == 0, r.stderr
        items = [json.loads(line) for line in r.stdout.splitlines()]
        assert len(items) == 3
        assert all(i["device"] == "pt-101" for i in items)

        await asyncio.sleep(1.5)  # readings are committed at most once a second
        r = await s.cli("buffer", "export", "--format", "jsonl", "--points", "lv-301/*")
        assert r.returncode == 0, r.stderr
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        assert rows
        assert {row["point"] for row in rows} == {"level"}


def test_cli_without_a_running_agent_says_so_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "gateway.toml").write_text(
        gateway_toml(tmp_path / "data", 1883, devices=[], buses=[], rules=["gas"])
    )
    r = subprocess.run(
        [sys.executable, "-m", "edge_agent", "status", "-c", str(tmp_path / "gateway.toml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1
    assert "no agent running" in r.stderr


async def test_a_device_polls_faster_while_one_of_its_alarms_is_active(
    tmp_path: Path, broker: Broker
) -> None:
    extra = {"poll_interval_s": 1.0, "poll_interval_alarm_s": 0.1}
    async with site(tmp_path, broker, pt_extra=extra) as s:
        await asyncio.sleep(2.0)
        calm = readings_of(s, "pt-101")
        await asyncio.sleep(3.0)
        calm = readings_of(s, "pt-101") - calm  # about 3 at 1 s
        s.pressure.value = 0.15
        await s.platform.wait_for(lambda: bool(s.events("pt-101", "pressure")), 20)
        await asyncio.sleep(1.0)
        busy = readings_of(s, "pt-101")
        await asyncio.sleep(3.0)
        busy = readings_of(s, "pt-101") - busy  # about 30 at 0.1 s
        assert busy >= 4 * max(calm, 1), (calm, busy)
        s.pressure.value = 0.35
        await s.platform.wait_for(
            lambda: any(e["state"] == "cleared" for e in s.events("pt-101", "pressure")), 20
        )
        await asyncio.sleep(1.5)
        after = readings_of(s, "pt-101")
        await asyncio.sleep(3.0)
        assert readings_of(s, "pt-101") - after <= calm + 2  # back to the normal rate
