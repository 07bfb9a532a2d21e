"""Commissioning a gateway before its daemon runs: `read`, `scan` and `run --once` as an
installer types them, as subprocesses, against real pymodbus servers (TCP on loopback,
RTU over a pseudo-terminal pair), with no agent running. pymodbus's own ERROR lines and
frame dumps must not reach the output."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drivers.bus import open_bus
from drivers.errors import BusTimeout, DeviceException
from drivers.profiles import load_profiles
from drivers.settings import ModbusTcpBusConfig
from edge_agent.control.server import ControlServer
from fieldsim.modbus_device import SimulatedDevice
from fieldsim.modbus_server import SimServer, serve_tcp
from fieldsim.ptypair import PtyPair
from tests.integration.agent_process import ROOT, gateway_toml

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PROFILES = load_profiles([])
PRESSURE = PROFILES["generic-pressure-float32"]
GAS = PROFILES["generic-gas-lel-int16"]


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


async def cli(*argv: str | Path, timeout_s: float = 120) -> Run:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edge_agent", *map(str, argv),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    assert proc.returncode is not None
    run = Run(proc.returncode, out.decode(), err.decode())
    # Log hygiene: pymodbus's own ERROR lines and hex frame dumps never show.
    assert "pymodbus" not in run.err, run.err
    assert ">>>>>" not in run.err, run.err
    return run


@dataclass
class Plant:
    config: Path
    port: int
    good: SimulatedDevice
    dead: SimulatedDevice
    refusing: SimulatedDevice
    slow: SimulatedDevice


@pytest.fixture
async def plant(tmp_path: Path) -> AsyncIterator[Plant]:
    good = SimulatedDevice(1, PRESSURE, {"pressure": 0.42})
    dead = SimulatedDevice(2, PRESSURE, {"pressure": 0.5})
    dead.silent = True
    refusing = SimulatedDevice(3, PRESSURE, {"pressure": 0.5})
    refusing.exception_code = 2
    slow = SimulatedDevice(4, PRESSURE, {"pressure": 0.5})
    slow.delay_s = 3.0  # later than both attempts of a 0.3 s timeout
    async with serve_tcp([good, dead, refusing, slow]) as port:
        bus = {"name": "plant", "kind": "modbus-tcp", "host": "127.0.0.1", "port": port,
               "timeout_s": 0.3, "retries": 1}  # fmt: skip
        devices = [
            {"name": "pt-1", "bus": "plant", "unit": 1, "profile": PRESSURE.id},
            {"name": "pt-2", "bus": "plant", "unit": 2, "profile": PRESSURE.id},
        ]
        config = tmp_path / "gateway.toml"
        config.write_text(gateway_toml(tmp_path / "data", 1883, devices, [bus], ["water"]))
        yield Plant(config, port, good, dead, refusing, slow)


def no_agent(plant: Plant) -> list[str | Path]:
    return ["-c", plant.config, "--socket", plant.config.parent / "none.sock"]


async def test_read_a_configured_point_with_no_daemon(plant: Plant) -> None:
    run = await cli("read", "pt-1/pressure", *no_agent(plant), "--json")
    assert run.code == 0, run.err
    assert run.json()["value"] == pytest.approx(0.42)
    assert "no agent running: opening the bus directly" in run.err
    assert plant.good.requests == 1


async def test_read_from_host_alone_without_a_config(plant: Plant, tmp_path: Path) -> None:
    run = await cli(
        "read", "-c", tmp_path / "absent.toml", "--host", f"127.0.0.1:{plant.port}",
        "--unit", "1", "--address", "0", "--type", "float32", "--json",
    )  # fmt: skip
    assert run.code == 0, run.err
    assert (run.json()["bus"], run.json()["value"]) == ("adhoc", pytest.approx(0.42))
    assert "no config and no agent" in run.err


async def test_an_exception_reply_is_named(plant: Plant) -> None:
    run = await cli("read", *no_agent(plant), "--bus", "plant", "--unit", "3", "--address", "0")
    assert run.code == 1
    assert run.err.splitlines()[-1] == (
        "edge-agent: error: plant unit 3 holding 0: exception code 2 (illegal data address)"
    )


async def test_a_slow_device_is_a_timeout_with_the_time_waited(plant: Plant) -> None:
    run = await cli("read", *no_agent(plant), "--bus", "plant", "--unit", "4", "--address", "0")
    assert run.code == 1
    last = run.err.splitlines()[-1]
    assert "plant unit 4 holding 0: timeout: no answer, waited " in last, last
    assert "no answer within 0.3 s" in last
    assert "frame" not in last
    assert plant.slow.requests == 2  # the bus's retry: both attempts waited for


async def test_run_once_with_a_good_and_a_dead_device(plant: Plant) -> None:
    run = await cli("run", "--once", "-c", plant.config, "--json")
    assert run.code == 1, run.err
    result = run.json()
    by_name = {d["device"]: d for d in result["devices"]}
    assert (by_name["pt-1"]["ok"], by_name["pt-1"]["readings"][0]["value"]) == (
        True,
        pytest.approx(0.42),
    )
    assert (by_name["pt-2"]["ok"], by_name["pt-2"]["reason"]) == (False, "timeout")
    assert result["failed"] == 1
    assert not (plant.config.parent / "data" / "buffer.db").exists()  # nothing stored

    table = await cli("run", "--once", "-c", plant.config)
    assert table.code == 1
    assert "pt-1    pressure  0.42 MPa  good" in table.out
    assert "FAILED: 1/2 devices did not answer as configured:" in table.out
    assert "  pt-2 (plant unit 2): timeout" in table.out


async def test_run_once_all_good_exits_zero(plant: Plant, tmp_path: Path) -> None:
    text = plant.config.read_text()
    one = tmp_path / "one.toml"
    one.write_text(text[: text.index('[[devices]]\nname = "pt-2"')])
    run = await cli("run", "--once", "-c", one)
    assert run.code == 0, run.out + run.err
    assert run.out.splitlines()[-1].startswith("OK: 1/1 devices answered")


@pytest.fixture
async def rs485(tmp_path: Path) -> AsyncIterator[tuple[Path, dict[int, SimulatedDevice]]]:
    """An RS-485 line on a pty with units 1 and 7, and a config naming the bus but no
    device yet (define the bus, scan, then add devices)."""
    devices = {1: SimulatedDevice(1, PRESSURE, {"pressure": 0.3}),
               7: SimulatedDevice(7, GAS, {"methane": 12.0})}  # fmt: skip
    async with PtyPair(tmp_path) as pair:
        server = SimServer(list(devices.values()), kind="rtu", serial_port=str(pair.a))
        await server.start()
        try:
            # A long bus timeout with retries: a scan that ignored --timeout-each would
            # wait 3 x 5 s on each of the 6 empty unit ids.
            bus = {"name": "rs485-1", "kind": "modbus-rtu", "port": str(pair.b),
                   "baudrate": 9600, "timeout_s": 5.0, "retries": 2}  # fmt: skip
            config = tmp_path / "gateway.toml"
            config.write_text(gateway_toml(tmp_path / "data", 1883, [], [bus], ["water"]))
            yield config, devices
        finally:
            await server.stop()


async def test_scan_a_bus_with_no_devices_honours_timeout_each(
    rs485: tuple[Path, dict[int, SimulatedDevice]],
) -> None:
    config, devices = rs485
    run = await cli(
        "scan", "-c", config, "--socket", config.parent / "none.sock", "--bus", "rs485-1",
        "--units", "1-8", "--timeout-each", "0.2", "--json",
    )  # fmt: skip
    assert run.code == 0, run.err
    result = run.json()
    assert [f["unit"] for f in result["found"]] == [1, 7]
    assert result["timeout_each_s"] == 0.2
    # One attempt per unit id, not the bus's three: 6 silent ids in well under one 5 s wait.
    assert result["elapsed_s"] < 5.0
    assert [devices[1].requests, devices[7].requests] == [1, 1]


async def test_scan_names_exception_answers(plant: Plant) -> None:
    run = await cli(
        "scan", *no_agent(plant), "--bus", "plant", "--units", "1-3", "--timeout-each", "0.2",
        "--json",
    )  # fmt: skip
    assert run.code == 0, run.err
    found = {f["unit"]: f for f in run.json()["found"]}
    assert sorted(found) == [1, 3]
    assert (found[3]["exception_code"], found[3]["exception"]) == (2, "illegal data address")
    assert found[1]["device"] == "pt-1"


async def test_run_once_refuses_next_to_a_running_agent(plant: Plant) -> None:
    data = plant.config.parent / "data"
    data.mkdir()

    async def status(_params: dict[str, Any]) -> dict[str, Any]:
        return {"gateway": {"id": "gw-test"}}

    async with ControlServer(data / "control.sock", {"status": status}, {}):
        run = await cli("run", "--once", "-c", plant.config)
    assert run.code == 1
    assert "the agent is running: `run --once` would open its buses a second time" in run.err
    assert plant.good.requests == 0  # nothing went on the bus


async def test_a_scan_timeout_on_a_shared_line_is_its_own_and_the_bus_keeps_its(
    plant: Plant,
) -> None:
    # The daemon's polled line: a scan probe waits --timeout-each, once, and the line's
    # own timeout is back for the polls after it.
    cfg = ModbusTcpBusConfig(
        kind="modbus-tcp", name="plant", host="127.0.0.1", port=plant.port, timeout_s=5.0,
        retries=2,
    )  # fmt: skip
    async with open_bus(cfg) as line:
        with pytest.raises(BusTimeout, match=r"no answer within 0\.2 s"):
            await line.read_within(2, "holding", 0, 1, 0.2)
        assert plant.dead.requests == 1
        assert line.inner._client.ctx.comm_params.timeout_connect == 5.0  # type: ignore[attr-defined]
        assert len(await line.read(1, "holding", 0, 2)) == 2
        with pytest.raises(DeviceException) as err:
            await line.read_within(3, "holding", 0, 1, 0.2)
        assert err.value.name == "illegal data address"
        assert "(illegal data address)" in str(err.value)
