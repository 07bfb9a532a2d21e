"""The daemon's health counters as Prometheus text, for real: the agent as a subprocess
(at the default log level, as under systemd) polling a real pymodbus server with one
good and one dead unit, publishing to a real mosquitto, writing node_exporter's textfile
and answering `GET /metrics` on a local port. Its log carries none of pymodbus's own
ERROR lines or frame dumps."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from drivers.profiles import load_profiles
from fieldsim.modbus_device import SimulatedDevice
from fieldsim.modbus_server import serve_tcp
from tests.conftest import Broker, free_port
from tests.integration.agent_process import ROOT, gateway_toml

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PRESSURE = load_profiles([])["generic-pressure-float32"]
# One sample line of the exposition format: name{labels} value
SAMPLE = re.compile(r'^edge_agent_[a-z_]+\{([a-z_]+="[^"\\]*",?)*\} (-?[0-9.e+]+|NaN)$')


def value(text: str, series: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


async def http_get(port: int, path: str) -> tuple[str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: gw\r\n\r\n".encode())
    await writer.drain()
    raw = (await asyncio.wait_for(reader.read(), 10)).decode()
    writer.close()
    head, _, body = raw.partition("\r\n\r\n")
    return head.split("\r\n")[0], body


async def test_metrics_textfile_and_http_agree_and_the_log_stays_clean(
    tmp_path: Path, broker: Broker
) -> None:
    good = SimulatedDevice(1, PRESSURE, {"pressure": 0.4})
    dead = SimulatedDevice(2, PRESSURE, {"pressure": 0.4})
    dead.silent = True
    prom = tmp_path / "textfile" / "edge_agent.prom"
    prom.parent.mkdir()
    http_port = free_port()
    async with serve_tcp([good, dead]) as port:
        bus = {"name": "plant", "kind": "modbus-tcp", "host": "127.0.0.1", "port": port,
               "timeout_s": 0.2, "retries": 1}  # fmt: skip
        devices = [
            {"name": "pt-1", "bus": "plant", "unit": 1, "profile": PRESSURE.id,
             "poll_interval_s": 0.5},
            {"name": "pt-2", "bus": "plant", "unit": 2, "profile": PRESSURE.id,
             "poll_interval_s": 0.5},
        ]  # fmt: skip
        extra = (
            f'\n[metrics]\ntextfile = "{prom}"\nlisten = "127.0.0.1:{http_port}"\ninterval_s = 1'
        )
        config = tmp_path / "gateway.toml"
        config.write_text(
            gateway_toml(tmp_path / "data", broker.port, devices, [bus], ["water"], extra=extra)
        )
        log = tmp_path / "agent.log"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "edge_agent", "run", "-c", str(config),
            stdout=log.open("ab"), stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            labels = '{gateway="gw-test",device="pt-2",bus="plant",unit="2"}'
            pt2 = f"edge_agent_device_failed_polls_total{labels}"
            async with asyncio.timeout(60):
                while True:
                    text = prom.read_text() if prom.exists() else ""
                    if (value(text, pt2) or 0) >= 3:
                        break
                    await asyncio.sleep(0.2)
            for line in text.splitlines():
                assert line.startswith("# ") or SAMPLE.match(line), line
            pt1 = '{gateway="gw-test",device="pt-1",bus="plant",unit="1"}'
            assert value(text, f"edge_agent_device_up{pt1}") == 1.0
            assert (value(text, f"edge_agent_device_polls_total{pt1}") or 0) >= 1
            assert value(text, 'edge_agent_uplink_connected{gateway="gw-test"}') == 1.0
            assert "# TYPE edge_agent_bus_timeouts_total counter" in text

            status, body = await http_get(http_port, "/metrics")
            assert status == "HTTP/1.1 200 OK"
            assert {ln.split("{")[0] for ln in body.splitlines()} == {
                ln.split("{")[0] for ln in text.splitlines()
            }
            assert (await http_get(http_port, "/"))[0] == "HTTP/1.1 404 Not Found"
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            rc = await asyncio.wait_for(proc.wait(), 30)
    agent_log = log.read_text()
    assert rc == 0, agent_log
    assert not prom.exists()  # no stale numbers once the agent is gone
    assert "pymodbus" not in agent_log, agent_log
    assert ">>>>>" not in agent_log
    # The dead unit: said once when it went offline, not once per request.
    assert len([ln for ln in agent_log.splitlines() if "pt-2" in ln]) <= 2, agent_log
