"""Command parsing, authorisation and signatures: every bad input gets a reply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgpack
import pytest

from edge_agent.clock import now_ms
from edge_agent.config import CommandsConfig
from edge_agent.errors import EdgeAgentError
from edge_agent.ops.args import AckArgs, ModeArgs, NoArgs, PointArgs
from edge_agent.uplink.commands import CommandError, CommandRouter, sign

ALL = ("ping", "ack", "reload", "mode", "read", "diag")


def req(**kw: Any) -> bytes:
    return json.dumps(kw).encode()


async def test_ping_is_answered_with_its_id() -> None:
    router = CommandRouter(CommandsConfig())
    reply = await router("ping", req(id="c-1"))
    assert reply["id"] == "c-1"
    assert reply["ok"] is True
    assert reply["result"]["pong"] is True


async def test_registered_handler_gets_validated_args() -> None:
    router = CommandRouter(CommandsConfig(allow=ALL))
    seen: list[AckArgs] = []

    async def ack(args: AckArgs) -> dict[str, Any]:
        seen.append(args)
        return {"acked": args.id}

    router.register("ack", ack, AckArgs)
    reply = await router("ack", req(id="c-2", args={"id": "alarm-9"}))
    assert reply == {"id": "c-2", "ok": True, "result": {"acked": "alarm-9"}}
    assert seen == [AckArgs(id="alarm-9")]


@pytest.mark.parametrize(
    ("name", "payload", "error"),
    [
        ("ping", b"{not json", "malformed command"),
        ("ping", b"[1, 2]", "expected an object"),
        ("ping", req(args={}), "id: Field required"),
        ("ping", req(id="bad id with spaces"), "id: String should match pattern"),
        ("ping", req(id="c", args={}, extra=1), "extra: Extra inputs are not permitted"),
        ("ping", req(id="c", args={"x": 1}), "x: Extra inputs are not permitted"),
        ("ping", b"{" + b'"id":"c","pad":"' + b"x" * 5000 + b'"}', "larger than max_bytes"),
        ("format-disk", req(id="c"), "unknown command 'format-disk'"),
        ("mode", req(id="c", args={"mode": "flood-season"}), "'mode' is not allowed"),
        ("read", req(id="c", args={"point": "no-slash"}), "point: String should match"),
        ("read", req(id="c", args={}), "point: Field required"),
    ],
)
async def test_bad_commands_get_an_error_reply(name: str, payload: bytes, error: str) -> None:
    router = CommandRouter(CommandsConfig())
    router.register("read", lambda args: {"value": 1.0}, PointArgs)
    reply = await router(name, payload)
    assert reply["ok"] is False
    assert error in reply["error"]
    assert set(reply) == {"id", "ok", "error"}


async def test_allowed_but_unregistered_command_is_not_available() -> None:
    router = CommandRouter(CommandsConfig(allow=ALL))
    reply = await router("reload", req(id="c"))
    assert reply == {
        "id": "c",
        "ok": False,
        "error": "command 'reload' is not available on this gateway",
    }


async def test_handler_failure_and_crash_become_error_replies() -> None:
    router = CommandRouter(CommandsConfig(allow=ALL))

    def failing(_: object) -> dict[str, Any]:
        raise CommandError("rules/gas.toml: rules[2].limit: must be a number")

    def crashing(_: object) -> dict[str, Any]:
        raise ZeroDivisionError("oops")

    router.register("reload", failing, NoArgs)
    router.register("diag", crashing, NoArgs)
    reply = await router("reload", req(id="r"))
    assert reply["error"] == "rules/gas.toml: rules[2].limit: must be a number"
    reply = await router("diag", req(id="d"))
    assert reply["ok"] is False
    assert "ZeroDivisionError" in reply["error"]
    assert router.counters == {"accepted": 0, "rejected": 2}


async def test_msgpack_commands_when_payload_is_msgpack() -> None:
    router = CommandRouter(CommandsConfig(), fmt="msgpack")
    reply = await router("ping", msgpack.packb({"id": "m-1", "args": {}}))
    assert reply["ok"] is True
    reply = await router("ping", b"\xc1")
    assert reply["ok"] is False


def signed(
    key: bytes, name: str, cmd_id: str, args: dict[str, Any], ts: int | None = None
) -> bytes:
    ts = now_ms() if ts is None else ts
    return req(id=cmd_id, args=args, ts=ts, sig=sign(key, name, cmd_id, ts, args))


async def test_signed_commands_are_checked_for_signature_age_and_replay(tmp_path: Path) -> None:
    key = b"k3y-material-0123456789"
    (tmp_path / "cmd.key").write_bytes(key + b"\n")
    cfg = CommandsConfig(allow=ALL, hmac_key_file=Path("cmd.key"), max_skew_s=30)
    router = CommandRouter(cfg, base_dir=tmp_path)
    router.register("mode", lambda args: {"mode": args.mode}, ModeArgs)

    good = signed(key, "mode", "s-1", {"mode": "flood-season"})
    assert (await router("mode", good))["ok"] is True
    replay = await router("mode", good)
    assert replay["error"] == "replayed command id 's-1'"
    unsigned = await router("mode", req(id="s-2", args={"mode": "x"}))
    assert unsigned["error"].startswith("unsigned command")
    forged = signed(b"other-key", "mode", "s-3", {"mode": "x"})
    assert (await router("mode", forged))["error"] == "bad signature"
    # The signature covers the name and the args: moving it to another command fails.
    moved = signed(key, "mode", "s-4", {"mode": "x"})
    assert (await router("ping", moved))["error"] == "bad signature"
    tampered = json.loads(signed(key, "mode", "s-5", {"mode": "x"}))
    tampered["args"]["mode"] = "y"
    assert (await router("mode", json.dumps(tampered).encode()))["error"] == "bad signature"
    stale = signed(key, "mode", "s-6", {"mode": "x"}, ts=now_ms() - 120_000)
    assert (await router("mode", stale))["error"].startswith("stale command")


def test_missing_key_file_is_a_clear_error(tmp_path: Path) -> None:
    cfg = CommandsConfig(hmac_key_file=Path("nope.key"))
    with pytest.raises(EdgeAgentError, match=r"cannot read \[mqtt.commands\] hmac_key_file"):
        CommandRouter(cfg, base_dir=tmp_path)


def test_a_short_or_placeholder_signing_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cmd.key").write_bytes(b"REPLACE-ME\n")
    cfg = CommandsConfig(allow=ALL, hmac_key_file=Path("cmd.key"))
    with pytest.raises(EdgeAgentError, match="holds 10 bytes: use at least 16 random bytes"):
        CommandRouter(cfg, base_dir=tmp_path)


async def test_a_future_dated_command_cannot_be_replayed_while_its_ts_is_valid(
    tmp_path: Path,
) -> None:
    key = b"k3y-material-0123456789"
    (tmp_path / "cmd.key").write_bytes(key)
    cfg = CommandsConfig(allow=ALL, hmac_key_file=Path("cmd.key"), max_skew_s=30)
    arrival = 1_700_000_000_000
    clock = [arrival]
    router = CommandRouter(cfg, base_dir=tmp_path, clock=lambda: clock[0])
    router.register("reload", lambda _: {"rules": 1}, NoArgs)
    ts = arrival + 25_000  # dated 25 s ahead: valid until gateway time ts + 30 s
    cmd = signed(key, "reload", "f-1", {}, ts=ts)
    assert (await router("reload", cmd))["ok"] is True
    for later_s in (31, 40, 54):  # past max_skew_s after arrival, ts still within skew
        clock[0] = arrival + later_s * 1000
        reply = await router("reload", cmd)
        assert reply["error"] == "replayed command id 'f-1'", later_s
    clock[0] = ts + 30_001  # the ts itself is stale now: refused for that
    assert (await router("reload", cmd))["error"].startswith("stale command")
