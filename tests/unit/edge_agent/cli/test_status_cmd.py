"""`edge-agent status|alarms` against a fake agent on a real unix socket: what is
asked, what is printed, and how mistakes are reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.edge_agent.cli.support import FakeAgent, doc_example, gateway_toml, run_cli


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
