"""`edge-agent read|scan` against a fake agent: the request each builds, progress, and
argument mistakes that never reach the bus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_agent.cli import read_cmd
from tests.unit.edge_agent.cli.support import FakeAgent, run_cli

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
    assert read_cmd.parse_units("1-3,2,7") == [1, 2, 3, 7]
    assert read_cmd.parse_units("0") == [0]


@pytest.mark.parametrize(
    "argv",
    [["read", "--bus", "rs485-1", "--address", "0"], ["scan", "--bus", "rs485-1", "--units", "1"]],
)
def test_read_and_scan_without_an_agent_open_the_bus_from_the_config(
    argv: list[str], sock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No agent, and a config that is not there: the bus cannot be found, and it says so.
    missing = sock_dir / "gateway.toml"
    assert run_cli([*argv, "-c", str(missing), "--socket", str(sock_dir / "control.sock")]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"edge-agent: no agent running: opening the bus directly ({missing})\n"
        f"edge-agent: error: {missing}: file not found\n"
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
    assert read_cmd.split_host_port(text) == expected
