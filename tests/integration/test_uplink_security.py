"""The uplink on secured brokers, one mosquitto config per test: password, TLS with CA
verification, mutual TLS, MQTT 3.1.1 and 5, JSON and msgpack; and the failures a
field installer meets (wrong password, wrong CA, no client certificate)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge_agent.store import Store
from edge_agent.uplink.drain import Uplink
from edge_agent.uplink.payloads import STORED_READINGS
from tests.conftest import Broker, free_port
from tests.integration.certs import Pki, make_pki
from tests.integration.mqtt_helpers import (
    Collector,
    alarm,
    gateway_config,
    poll,
    unique_prefix,
)

pytestmark = pytest.mark.integration

MakeBroker = Callable[..., Broker]
SECRET = "s3cr3t-Pa55"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def password_file(folder: Path) -> Path:
    path = folder / "mosquitto.passwd"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(path), "gw-test", SECRET],
        check=True,
        capture_output=True,
        timeout=30,
    )
    path.chmod(0o600)
    return path


def tls_listener(pki: Pki, *, require_cert: bool, plain_port: int) -> str:
    """TLS options for the main listener, then a plain listener for the test's subscriber."""
    return (
        f"cafile {pki.path('ca.crt')}\n"
        f"certfile {pki.path('server.crt')}\n"
        f"keyfile {pki.path('server.key')}\n"
        f"require_certificate {'true' if require_cert else 'false'}\n"
        f"listener {plain_port} 127.0.0.1\n"
    )


async def deliver_one_alarm(
    cfg_kwargs: dict[str, Any], port: int, sub_port: int, tmp_path: Path, **sub: Any
) -> list[Any]:
    """Store an alarm and a poll, run the uplink until both arrive; return the payloads."""
    prefix = unique_prefix()
    cfg = gateway_config(port, prefix, tmp_path, **cfg_kwargs)
    store = Store.open(tmp_path / f"buffer-{prefix}.db", codec=STORED_READINGS, commit_interval_s=0)
    store.add_alarms([alarm("a-1", eta_s=60.0)], "gw-test")
    store.add_poll(poll("pt-101", 1_700_000_000_000, {"pressure": 0.3}), "gw-test")
    fmt = cfg_kwargs.get("payload", "json")
    async with Collector(sub_port, f"{prefix}/#", fmt=fmt, **sub) as collector:
        uplink = Uplink(cfg, store, backoff_min_s=0.1, backoff_max_s=0.5)
        task = asyncio.create_task(uplink.run())
        await collector.wait_for(lambda: len(collector.seqs()) == 2)
        await uplink.stop()
        await asyncio.wait_for(task, 5)
    assert store.depth() == 0
    store.close()
    return [m.payload for m in collector.messages if "/alarm/" in m.topic or "/tele" in m.topic]


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
@pytest.mark.parametrize("payload", ["json", "msgpack"])
async def test_delivery_on_mqtt_311_and_5_in_json_and_msgpack(
    broker: Broker, tmp_path: Path, protocol: str, payload: str
) -> None:
    got = await deliver_one_alarm(
        {"protocol": protocol, "payload": payload}, broker.port, broker.port, tmp_path
    )
    event, tele = got
    assert event["id"] == "a-1"
    assert event["seq"] == 1
    assert event["eta_s"] == 60.0
    assert tele["seq"] == 2
    assert tele["readings"][0]["value"] == 0.3


async def test_password_from_file_or_environment_is_used_and_never_logged(
    make_broker: MakeBroker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    broker = make_broker(extra=f"password_file {password_file(tmp_path)}\n", anonymous=False)
    creds = {"username": "gw-test", "password": SECRET}
    (tmp_path / "mqtt.pass").write_text(SECRET + "\n")
    by_file = {"username": "gw-test", "password_file": "mqtt.pass"}
    assert len(await deliver_one_alarm(by_file, broker.port, broker.port, tmp_path, **creds)) == 2
    monkeypatch.setenv("EDGE_TEST_MQTT_PASSWORD", SECRET)
    by_env = {"username": "gw-test", "password_env": "EDGE_TEST_MQTT_PASSWORD", "protocol": "5"}
    assert len(await deliver_one_alarm(by_env, broker.port, broker.port, tmp_path, **creds)) == 2
    assert SECRET not in caplog.text


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_wrong_password_is_a_clear_error_retried_with_backoff(
    make_broker: MakeBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture, protocol: str
) -> None:
    caplog.set_level(logging.DEBUG)
    broker = make_broker(extra=f"password_file {password_file(tmp_path)}\n", anonymous=False)
    (tmp_path / "wrong.pass").write_text("not-the-password\n")
    cfg = gateway_config(
        broker.port,
        unique_prefix(),
        tmp_path,
        username="gw-test",
        password_file="wrong.pass",
        protocol=protocol,
    )
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    store.add_alarms([alarm("a-1")], "gw-test")
    uplink = Uplink(cfg, store, backoff_min_s=0.2, backoff_max_s=0.4)
    task = asyncio.create_task(uplink.run())
    await asyncio.sleep(2.0)
    await uplink.stop()
    await asyncio.wait_for(task, 5)
    assert not task.exception() if task.done() and not task.cancelled() else True
    failures = uplink.counters["connect_failures"]
    assert 2 <= failures <= 12, "retried, but with backoff rather than in a tight loop"
    errors = [
        r for r in caplog.records if r.levelno == logging.ERROR and r.name.startswith("edge_agent")
    ]
    assert len(errors) == 1, "one log line per outage episode"
    assert "cause=auth" in errors[0].getMessage()
    assert "refused the connection" in errors[0].getMessage()
    assert "not-the-password" not in caplog.text
    assert store.depth() == 1, "the alarm stays owed"
    store.close()


async def test_tls_with_ca_verification_delivers(
    make_broker: MakeBroker, tmp_path: Path, pki: Pki
) -> None:
    plain = free_port()
    broker = make_broker(listener_extra=tls_listener(pki, require_cert=False, plain_port=plain))
    tls = {"tls": {"ca_file": str(pki.path("ca.crt"))}}
    got = await deliver_one_alarm(tls, broker.port, plain, tmp_path)
    assert [p["seq"] for p in got] == [1, 2]


async def test_mutual_tls_with_client_certificate_delivers(
    make_broker: MakeBroker, tmp_path: Path, pki: Pki
) -> None:
    plain = free_port()
    broker = make_broker(listener_extra=tls_listener(pki, require_cert=True, plain_port=plain))
    tls = {
        "tls": {
            "ca_file": str(pki.path("ca.crt")),
            "cert_file": str(pki.path("client.crt")),
            "key_file": str(pki.path("client.key")),
        },
        "protocol": "5",
    }
    got = await deliver_one_alarm(tls, broker.port, plain, tmp_path)
    assert [p["seq"] for p in got] == [1, 2]


async def failing_uplink(
    cfg_kwargs: dict[str, Any], broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> str:
    """Run an uplink that cannot connect for a while; return its one error log line."""
    caplog.set_level(logging.DEBUG)
    prefix = unique_prefix()
    cfg = gateway_config(broker.port, prefix, tmp_path, **cfg_kwargs)
    store = Store.open(tmp_path / f"buffer-{prefix}.db", codec=STORED_READINGS, commit_interval_s=0)
    store.add_alarms([alarm("a-1")], "gw-test")
    uplink = Uplink(cfg, store, backoff_min_s=0.2, backoff_max_s=0.4)
    task = asyncio.create_task(uplink.run())
    await asyncio.sleep(1.5)
    await uplink.stop()
    await asyncio.wait_for(task, 5)
    assert store.depth() == 1
    store.close()
    assert uplink.counters["connects"] == 0
    assert uplink.counters["connect_failures"] >= 2
    errors = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and r.name.startswith("edge_agent")
    ]
    assert len(errors) == 1
    # Never a plain-text fallback: the broker never saw our client connect.
    assert "as gw-test" not in broker.log.read_text()
    return errors[0]


async def test_wrong_ca_is_a_tls_error_and_never_falls_back_to_plain_text(
    make_broker: MakeBroker, tmp_path: Path, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    broker = make_broker(
        listener_extra=tls_listener(pki, require_cert=False, plain_port=free_port())
    )
    msg = await failing_uplink(
        {"tls": {"ca_file": str(pki.path("other-ca.crt"))}}, broker, tmp_path, caplog
    )
    assert "cause=tls" in msg
    assert "certificate verify failed" in msg


async def test_missing_or_rogue_client_certificate_is_a_tls_error(
    make_broker: MakeBroker, tmp_path: Path, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    broker = make_broker(
        listener_extra=tls_listener(pki, require_cert=True, plain_port=free_port())
    )
    msg = await failing_uplink(
        {"tls": {"ca_file": str(pki.path("ca.crt"))}}, broker, tmp_path, caplog
    )
    assert "cause=tls" in msg
    caplog.clear()
    rogue = {
        "ca_file": str(pki.path("ca.crt")),
        "cert_file": str(pki.path("rogue-client.crt")),
        "key_file": str(pki.path("rogue-client.key")),
    }
    msg = await failing_uplink({"tls": rogue}, broker, tmp_path, caplog)
    assert "cause=tls" in msg


async def test_plain_broker_with_tls_configured_is_an_error_not_a_downgrade(
    broker: Broker, tmp_path: Path, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    msg = await failing_uplink(
        {"tls": {"ca_file": str(pki.path("ca.crt"))}}, broker, tmp_path, caplog
    )
    assert "cause=tls" in msg


async def test_mqtt5_publish_refused_by_the_broker_is_not_an_ack(
    make_broker: MakeBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = unique_prefix()
    acl = tmp_path / "acl"
    acl.write_text(f"topic deny {prefix}/site-a/gw-test/alarm/#\ntopic readwrite #\n")
    broker = make_broker(extra=f"acl_file {acl}\n")
    cfg = gateway_config(broker.port, prefix, tmp_path, protocol="5")
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    store.add_alarms([alarm("a-1")], "gw-test")
    uplink = Uplink(cfg, store, backoff_min_s=0.2, backoff_max_s=0.4)
    task = asyncio.create_task(uplink.run())
    await asyncio.sleep(1.5)
    await uplink.stop()
    await asyncio.wait_for(task, 5)
    assert store.depth() == 1, "a refused alarm stays owed"
    assert uplink.counters["connects"] >= 2, "the session ended and was retried"
    assert "broker refused message" in caplog.text
    store.close()
