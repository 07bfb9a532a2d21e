"""The diagnostics commands end to end over a real control socket.

A stand-in daemon (a real ControlServer on its own thread and loop, serving the
documented result shapes) answers; the CLI runs in-process as `edge-agent` would.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from edge_agent.cli import diag
from edge_agent.control import ControlServer, MethodError, Params
from tests.unit.edge_agent.cli_support import doc_example, run_cli


@dataclass
class FakeAgent:
    """A daemon's control socket with canned, documented answers; records requests."""

    path: Path
    requests: list[tuple[str, Params]] = field(default_factory=list)
    scan_answers: dict[int, str] = field(default_factory=lambda: {1: "registers", 2: "exception"})
    read_error: str | None = None

    def handlers(self) -> dict[str, Any]:
        async def status(params: Params) -> Any:
            self.requests.append(("status", params))
            return doc_example("devices")

        async def alarms(params: Params) -> Any:
            self.requests.append(("alarms", params))
            return doc_example("recent")

        async def read(params: Params) -> Any:
            self.requests.append(("read", params))
            if self.read_error:
                raise MethodError(self.read_error)
            return doc_example("registers")

        return {"status": status, "alarms": alarms, "read": read}

    def streams(self) -> dict[str, Any]:
        async def tail(params: Params) -> AsyncGenerator[Any, None]:
            self.requests.append(("tail", params))
            base = {"type": "reading", "device": "pt-101", "point": "pressure", "unit": "MPa"}
            for i in range(5):
                bad = i == 1
                yield {
                    **base,
                    "ts_ms": 1795536062120 + i * 1000,
                    "value": None if bad else 0.4,
                    "quality": "bad" if bad else "good",
                    "reason": "timeout" if bad else None,
                }
                if i == 2:
                    yield {
                        "type": "alarm",
                        "ts_ms": 1795536064120,
                        "device": "pt-101",
                        "point": "pressure",
                        "rule": "water.pressure.low",
                        "level": 1,
                        "state": "raised",
                        "value": 0.08,
                        "limit": 0.1,
                        "unit": "MPa",
                    }
            while True:  # a tail never ends by itself
                await asyncio.sleep(0.05)
                yield {**base, "ts_ms": 0, "value": 0.4, "quality": "good", "reason": None}

        async def scan(params: Params) -> AsyncGenerator[Any, None]:
            self.requests.append(("scan", params))
            units = params["units"]
            found = []
            for n, unit in enumerate(units, 1):
                answer = self.scan_answers.get(unit)
                yield {"unit": unit, "done": n, "total": len(units), "answer": answer}
                if answer:
                    found.append(
                        {
                            "unit": unit,
                            "answer": answer,
                            "registers": [7],
                            "exception_code": 2 if answer == "exception" else None,
                            "latency_ms": 3.0,
                            "device": None,
                            "identity": None,
                        }
                    )
            yield {
                "bus": params.get("bus"),
                "scanned": len(units),
                "elapsed_s": 0.1,
                "found": found,
            }

        return {"tail": tail, "scan": scan}


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="ea-diag-", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def agent(sock_dir: Path) -> Iterator[FakeAgent]:
    fake = FakeAgent(sock_dir / "control.sock")
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()

    async def serve() -> None:
        async with ControlServer(fake.path, fake.handlers(), fake.streams()):
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(5), "control server did not start"
    try:
        yield fake
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)
        loop.close()


def gateway_toml(tmp: Path, extra: str = "") -> Path:
    cfg = tmp / "gateway.toml"
    cfg.write_text(
        f'[gateway]\nid = "gw-1"\nsite = "s"\ndata_dir = "{tmp}"\n{extra}\n'
        '[[buses]]\nname = "rs485-1"\nkind = "modbus-rtu"\nport = "/dev/ttyS1"\n'
    )
    return cfg


# ---------------------------------------------------------------- status, alarms


def test_status_found_through_the_config_renders_the_verdict(
    agent: FakeAgent, sock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = gateway_toml(sock_dir, f'control_socket = "{agent.path}"')
    assert run_cli(["status", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1] == "ATTENTION: 1 problem"
    assert "pt-102 (rs485-1 unit 2): failing: timeout" in out


def test_status_found_in_data_dir_without_a_socket_setting(
    agent: FakeAgent, sock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The fake agent listens on {data_dir}/control.sock, like an agent started by hand.
    assert run_cli(["status", "-c", str(gateway_toml(sock_dir))]) == 0
    assert capsys.readouterr().out.startswith("gateway gw-qd-0042")


def test_status_json_is_the_daemons_result(
    agent: FakeAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["status", "--socket", str(agent.path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == doc_example("devices")


def test_no_agent_is_one_line_naming_where_it_looked(
    sock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["status", "-c", str(gateway_toml(sock_dir))]) == 1
    err = capsys.readouterr().err
    assert err == (
        "edge-agent: error: no agent running: cannot connect to "
        f"/run/edge-agent/control.sock or {sock_dir}/control.sock\n"
    )


def test_bad_config_is_reported_by_key_not_traceback(
    sock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = gateway_toml(sock_dir, "control_sock = 1")
    assert run_cli(["alarms", "-c", str(cfg)]) == 1
    assert capsys.readouterr().err == (
        f"edge-agent: error: {cfg}: gateway.control_sock: unknown key (not allowed here; "
        "check the spelling)\n"
    )


def test_missing_config_file_is_one_line(
    sock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["status", "-c", str(sock_dir / "nope.toml")]) == 1
    assert capsys.readouterr().err == f"edge-agent: error: {sock_dir}/nope.toml: file not found\n"


def test_alarms_asks_for_the_recent_count(
    agent: FakeAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["alarms", "--socket", str(agent.path), "--recent", "5"]) == 0
    assert agent.requests == [("alarms", {"recent": 5})]
    out = capsys.readouterr().out
    assert out.startswith("active alarms: 1\n")
    assert "recent alarm events: 1" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["status", "--timeout", "0"], "argument --timeout: must be positive: '0'"),
        (["alarms", "--recent", "x"], "argument --recent: not an integer: 'x'"),
        (["status", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


# ---------------------------------------------------------------- tail


def test_tail_prints_readings_with_quality_and_alarms_then_stops_at_count(
    agent: FakeAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run_cli(["tail", "--socket", str(agent.path), "pt-101", "mh-*/methane_lel", "--count", "4"])
        == 0
    )
    assert agent.requests == [
        ("tail", {"points": ["pt-101/*", "mh-*/methane_lel"], "alarms": True})
    ]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5  # four readings and the alarm between them
    assert lines[1] == "2026-11-24T16:01:03.120Z  pt-101/pressure  nan MPa  bad (timeout)"
    assert "ALARM raised level 1 red" in lines[3]


def test_tail_bad_only_as_json_lines(agent: FakeAgent, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["tail", "--socket", str(agent.path), "--bad", "--no-alarms", "--json", "--count", "1"]
    assert run_cli(argv) == 0
    assert agent.requests == [("tail", {"points": [], "alarms": False})]
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["reason"] == "timeout"


def test_tail_rejects_a_point_pattern_with_spaces(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["tail", "--socket", "/nonexistent", "pt 101"]) == 1
    assert capsys.readouterr().err == (
        "edge-agent: error: not a point pattern: 'pt 101' (expected device/point, globs allowed)\n"
    )


# ---------------------------------------------------------------- read


def test_read_a_configured_point(agent: FakeAgent, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["read", "--socket", str(agent.path), "pt-101/pressure"]) == 0
    assert agent.requests == [("read", {"point": "pt-101/pressure"})]
    assert "value: 0.412 MPa  (float32 ABCD)  quality: good" in capsys.readouterr().out


def test_read_on_a_bus_fills_in_count_and_byte_order_from_the_type(agent: FakeAgent) -> None:
    argv = [
        "read",
        "--socket",
        str(agent.path),
        "--bus",
        "rs485-1",
        "--unit",
        "3",
        "--address",
        "0x10",
        "--type",
        "float32",
    ]
    assert run_cli(argv) == 0
    assert agent.requests == [
        (
            "read",
            {
                "bus": "rs485-1",
                "unit": 3,
                "table": "holding",
                "address": 16,
                "count": 2,
                "type": "float32",
                "byte_order": "ABCD",
                "scale": 1.0,
                "offset": 0.0,
            },
        )
    ]


def test_read_ad_hoc_serial_and_tcp_targets(agent: FakeAgent) -> None:
    s = str(agent.path)
    assert (
        run_cli(
            [
                "read",
                "--socket",
                s,
                "--port",
                "/dev/ttyUSB0",
                "--baudrate",
                "19200",
                "--parity",
                "E",
                "--table",
                "input",
                "--address",
                "0",
                "--count",
                "4",
            ]
        )
        == 0
    )
    assert (
        run_cli(
            [
                "read",
                "--socket",
                s,
                "--host",
                "10.0.0.5:1502",
                "--rtu-over-tcp",
                "--address",
                "100",
                "--type",
                "int32",
                "--byte-order",
                "CDAB",
            ]
        )
        == 0
    )
    serial, tcp = (p for _, p in agent.requests)
    assert serial["target"] == {
        "kind": "modbus-rtu",
        "port": "/dev/ttyUSB0",
        "baudrate": 19200,
        "parity": "E",
        "stopbits": 1,
    }
    assert (serial["table"], serial["count"], serial["type"]) == ("input", 4, "uint16")
    assert tcp["target"] == {"kind": "modbus-rtu-over-tcp", "host": "10.0.0.5", "port": 1502}
    assert tcp["byte_order"] == "CDAB"


def test_read_failure_on_the_bus_is_one_line_and_exit_1(
    agent: FakeAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    agent.read_error = "rs485-1 unit 5 holding 0: timeout after 1 s"
    assert (
        run_cli(
            [
                "read",
                "--socket",
                str(agent.path),
                "--bus",
                "rs485-1",
                "--unit",
                "5",
                "--address",
                "0",
            ]
        )
        == 1
    )
    assert (
        capsys.readouterr().err
        == "edge-agent: error: rs485-1 unit 5 holding 0: timeout after 1 s\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--address", "0"], "say which bus: exactly one of --bus, --port or --host"),
        (["--bus", "a", "--port", "/dev/ttyS0", "--address", "0"], "exactly one of --bus"),
        (["--bus", "a"], "--address is required"),
        (
            ["--bus", "a", "--address", "0", "--type", "float32", "--count", "1"],
            "--type float32 needs 2 registers, --count is 1",
        ),
        (
            ["--bus", "a", "--address", "0", "--count", "126"],
            "--count 126: a holding read takes 1 to 125",
        ),
        (["--bus", "a", "--address", "65535", "--count", "2"], "runs past address 65535"),
        (
            ["--bus", "a", "--address", "0", "--unit", "248"],
            "--unit 248: unit ids go from 0 to 247",
        ),
        (
            ["--bus", "a", "--address", "0", "--table", "coil", "--type", "float32"],
            "a coil read gives bits: --type must be bool, not float32",
        ),
        (
            ["--bus", "a", "--address", "0", "--type", "int32", "--byte-order", "AB"],
            "--byte-order AB does not fit int32: use ABCD, DCBA, BADC or CDAB",
        ),
        (["--bus", "a", "--address", "0", "--bit", "16"], "--bit takes 0-15"),
        (
            ["--bus", "a", "--baudrate", "9600", "--address", "0"],
            "--bus uses the bus's own settings",
        ),
        (["--host", "10.0.0.5", "--parity", "E", "--address", "0"], "--parity goes with --port"),
        (["--host", "10.0.0.5:http", "--address", "0"], "the port must be a number"),
        (
            ["--port", "/dev/ttyS0", "--rtu-over-tcp", "--address", "0"],
            "--rtu-over-tcp goes with --host",
        ),
        (
            ["pt-101/pressure", "--address", "3"],
            "a POINT reads as its profile says; leave out --address",
        ),
        (["pt-101"], "not a point: 'pt-101' (expected device/point"),
    ],
)
def test_read_argument_mistakes_never_reach_the_bus(
    args: list[str], message: str, agent: FakeAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["read", "--socket", str(agent.path), *args]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("edge-agent: error: ")
    assert message in err
    assert agent.requests == []


# ---------------------------------------------------------------- scan


def test_scan_shows_progress_on_stderr_and_the_answers(
    agent: FakeAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "scan",
        "--socket",
        str(agent.path),
        "--bus",
        "rs485-1",
        "--units",
        "1-10,20",
        "--identify",
        "--timeout-each",
        "0.3",
    ]
    assert run_cli(argv) == 0
    assert agent.requests == [
        (
            "scan",
            {
                "bus": "rs485-1",
                "units": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20],
                "table": "holding",
                "address": 0,
                "identify": True,
                "timeout_s": 0.3,
            },
        )
    ]
    captured = capsys.readouterr()
    progress = captured.err.splitlines()
    assert progress[-1] == "[##############################] 11/11 units, 2 found"
    assert 2 <= len(progress) <= 11  # not a terminal: about one line per tenth
    out = captured.out.splitlines()
    assert out[0] == "scanned 11 unit ids on rs485-1 in 0.1 s: 2 answered"
    assert out[4].split()[:3] == ["2", "exception", "2"]


def test_scan_json_prints_only_the_final_result(
    agent: FakeAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run_cli(["scan", "--socket", str(agent.path), "--bus", "b", "--units", "1-3", "--json"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert [f["unit"] for f in result["found"]] == [1, 2]


@pytest.mark.parametrize(
    ("units", "message"),
    [("1-300", "unit ids go from 0 to 247"), ("5-1", "low to high"), ("a", "not a unit list")],
)
def test_scan_bad_unit_list_is_one_line(
    units: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["scan", "--bus", "b", "--units", units]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_unit_lists() -> None:
    assert diag.parse_units("1-3,2,7") == [1, 2, 3, 7]
    assert diag.parse_units("0") == [0]


@pytest.mark.parametrize(
    "argv",
    [["read", "--bus", "rs485-1", "--address", "0"], ["scan", "--bus", "rs485-1", "--units", "1"]],
)
def test_read_and_scan_without_an_agent_say_why_they_need_it(
    argv: list[str], sock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli([*argv, "--socket", str(sock_dir / "control.sock")]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"edge-agent: error: no agent running: cannot connect to {sock_dir}/control.sock; "
        f"`{argv[0]}` goes through the running agent so it never collides with its polling: "
        "start it (systemctl start edge-agent)\n"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.5:1502", ("10.0.0.5", "1502")),
        ("plc.local", ("plc.local", "")),
        ("[fe80::1]:502", ("fe80::1", "502")),
        ("fe80::1", ("fe80::1", "")),
    ],
)
def test_host_and_port(text: str, expected: tuple[str, str]) -> None:
    assert diag.split_host_port(text) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["alarms"],
        ["tail"],
        ["read"],
        ["scan"],
        ["buffer"],
        ["buffer", "stats"],
        ["buffer", "export"],
    ],
)
def test_every_command_has_help_with_examples(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli([*argv, "--help"]) == 0
    out = capsys.readouterr().out
    assert "\nexamples:\n  edge-agent " in out


def test_tail_into_head_ends_quietly(agent: FakeAgent, tmp_path: Path) -> None:
    code = (
        "import sys; from tests.unit.edge_agent.cli_support import run_cli; "
        f"sys.exit(run_cli(['tail', '--socket', {str(agent.path)!r}]))"
    )
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.run(
        f'{sys.executable} -c "{code}" 2>{tmp_path}/err.txt | head -n 2; '
        "echo rc=${PIPESTATUS[0]}",
        shell=True,
        executable="/bin/bash",
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = proc.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("pt-101/pressure  0.4 MPa  good")
    assert lines[2] == "rc=0"
    assert (tmp_path / "err.txt").read_text() == ""
