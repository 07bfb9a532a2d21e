"""The MQTT connection: the only module that imports aiomqtt (and paho beneath it).

`MqttLink` is an async context manager: connect with the last will, publish and
wait for the PUBACK, subscribe, iterate incoming messages. Every failure becomes a
`LinkError` whose message says why (TLS, credentials, network), never the password.
TLS is either verified or refused: there is no fallback to plain text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import aiomqtt
import paho.mqtt.client as paho
from aiomqtt.exceptions import MqttConnectError

from edge_agent.config import MqttConfig
from edge_agent.errors import EdgeAgentError

log = logging.getLogger(__name__)

Cause = Literal["tls", "auth", "network", "protocol", "rejected"]


class LinkError(EdgeAgentError):
    """The broker cannot be reached or used. `cause` tells the retry policy what failed."""

    def __init__(self, msg: str, cause: Cause = "network") -> None:
        super().__init__(msg)
        self.cause: Cause = cause


@dataclass(frozen=True, slots=True)
class LastWill:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def tls_context(mqtt: MqttConfig, base_dir: Path) -> ssl.SSLContext | None:
    """A verifying TLS context from [mqtt] tls, or None when TLS is not configured."""
    if mqtt.tls is None:
        return None
    tls = mqtt.tls
    try:
        ca = None if tls.ca_file is None else str(base_dir / tls.ca_file)
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
        if tls.cert_file is not None and tls.key_file is not None:
            ctx.load_cert_chain(str(base_dir / tls.cert_file), str(base_dir / tls.key_file))
    except (OSError, ssl.SSLError) as err:
        raise LinkError(f"TLS setup failed: cannot load [mqtt] tls files: {err}", "tls") from err
    return ctx


class _PahoLog(logging.Logger):
    """paho's log, demoted to DEBUG (the uplink logs once per episode itself), keeping
    the last error paho saw so a failed connect can say why."""

    def __init__(self) -> None:
        super().__init__("edge_agent.uplink.paho", logging.DEBUG)
        self.parent = log
        self.last_error: str | None = None

    def handle(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.last_error = record.getMessage()
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        if log.isEnabledFor(logging.DEBUG):
            super().handle(record)


class MqttLink:
    """One connection to the broker. Use a new instance for every attempt."""

    def __init__(
        self,
        mqtt: MqttConfig,
        *,
        client_id: str,
        will: LastWill,
        base_dir: Path = Path("."),
        timeout_s: float = 10.0,
    ) -> None:
        self.mqtt = mqtt
        self.where = f"{mqtt.host}:{mqtt.port}"
        self.timeout_s = timeout_s
        self._paho_log = _PahoLog()
        password = None
        if mqtt.password_file is not None or mqtt.password_env is not None:
            resolved = mqtt
            if mqtt.password_file is not None:
                resolved = mqtt.model_copy(update={"password_file": base_dir / mqtt.password_file})
            try:
                secret = resolved.password()
            except OSError as err:
                raise LinkError(
                    f"cannot read [mqtt] password_file: {err.strerror}", "auth"
                ) from err
            if secret is None:
                raise LinkError(f"[mqtt] password_env {mqtt.password_env} is not set", "auth")
            password = secret.get_secret_value()
        self._client = aiomqtt.Client(
            mqtt.host,
            mqtt.port,
            username=mqtt.username,
            password=password,
            identifier=client_id,
            protocol=(
                aiomqtt.ProtocolVersion.V5 if mqtt.protocol == "5" else aiomqtt.ProtocolVersion.V311
            ),
            will=aiomqtt.Will(will.topic, will.payload, will.qos, will.retain),
            keepalive=mqtt.keepalive_s,
            timeout=timeout_s,
            max_inflight_messages=mqtt.max_inflight,
            tls_context=tls_context(mqtt, base_dir),
            logger=self._paho_log,
        )
        # Our own PUBACK bookkeeping: aiomqtt ignores MQTT 5 reason codes, and a
        # negative PUBACK must not delete a row.
        self._paho: paho.Client = self._client._client
        self._acks: dict[int, asyncio.Future[None]] = {}
        self._aiomqtt_on_publish: Any = self._paho.on_publish
        self._paho.on_publish = self._on_publish
        # aiomqtt ignores a connection that dies before CONNACK (a TLS alert after the
        # handshake, say) and waits for its timeout; fail the connect at once instead.
        self._aiomqtt_on_disconnect: Any = self._paho.on_disconnect
        self._paho.on_disconnect = self._on_disconnect

    def _on_disconnect(self, client: Any, userdata: Any, *args: Any) -> None:
        connected: asyncio.Future[None] = self._client._connected
        if not connected.done():
            why = self._paho_log.last_error or f"connection closed before CONNACK ({args[1]})"
            connected.set_exception(aiomqtt.MqttError(why))
        if self._aiomqtt_on_disconnect is not None:
            self._aiomqtt_on_disconnect(client, userdata, *args)

    def _on_publish(self, client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        fut = self._acks.pop(mid, None)
        if fut is not None and not fut.done():
            if getattr(rc, "is_failure", False):
                fut.set_exception(LinkError(f"broker refused message: {rc}", "rejected"))
            else:
                fut.set_result(None)
        if self._aiomqtt_on_publish is not None:
            self._aiomqtt_on_publish(client, userdata, mid, rc, props)

    async def __aenter__(self) -> MqttLink:
        try:
            await self._client.__aenter__()
        except MqttConnectError as err:
            cause: Cause = "auth" if err.rc in (4, 5, 134, 135) else "protocol"
            raise LinkError(f"broker {self.where} refused the connection: {err}", cause) from err
        except aiomqtt.MqttError as err:
            if self.mqtt.tls is not None and _looks_like_tls(str(err)):
                raise LinkError(f"TLS connection to {self.where} failed: {err}", "tls") from err
            if self.mqtt.tls is not None and not _before_tcp(str(err)):
                raise LinkError(
                    f"TLS handshake with {self.where} failed (is it a TLS listener?): {err}",
                    "tls",
                ) from err
            if self.mqtt.tls is not None and "timed out" in str(err):
                raise LinkError(
                    f"no CONNACK from {self.where} over TLS (the broker may have rejected "
                    f"the client certificate): {err}",
                    "tls",
                ) from err
            raise LinkError(f"cannot connect to {self.where}: {err}", "network") from err
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for fut in self._acks.values():
            fut.cancel()
        self._acks.clear()
        try:
            await self._client.__aexit__(exc_type, exc, tb)
        except aiomqtt.MqttError as err:
            log.debug("disconnect was not clean broker=%s reason=%s", self.where, err)

    async def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool = False) -> None:
        """Publish; for QoS 1 return only once the broker's PUBACK has arrived."""
        await self.publish_many([(topic, payload, qos, retain)])

    async def publish_many(self, messages: Sequence[tuple[str, bytes, int, bool]]) -> None:
        """Hand every message to the client at once, in order (nothing else can slip in
        between: a dialect's own sequence numbers stay in order on the wire), then wait
        for the PUBACK of each QoS 1 message."""
        waiting: list[tuple[int, asyncio.Future[None]]] = []
        loop = asyncio.get_running_loop()
        try:
            for topic, payload, qos, retain in messages:
                info = self._paho.publish(topic, payload, qos, retain)
                if info.rc != paho.MQTT_ERR_SUCCESS:
                    raise LinkError(f"publish failed: {paho.error_string(info.rc)}", "network")
                if qos == 0 or info.is_published():
                    continue
                fut: asyncio.Future[None] = loop.create_future()
                self._acks[info.mid] = fut
                waiting.append((info.mid, fut))
            if not waiting:
                return
            try:
                async with asyncio.timeout(self.timeout_s * 3):
                    await asyncio.gather(*(f for _, f in waiting))
            except TimeoutError as err:
                raise LinkError(f"no PUBACK from {self.where} in time", "network") from err
        finally:
            for mid, fut in waiting:
                self._acks.pop(mid, None)
                if not fut.done():
                    fut.cancel()

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        try:
            await self._client.subscribe(topic_filter, qos)
        except aiomqtt.MqttError as err:
            raise LinkError(f"subscribe to {topic_filter} failed: {err}", "network") from err

    async def unsubscribe(self, topic_filter: str) -> None:
        try:
            await self._client.unsubscribe(topic_filter)
        except aiomqtt.MqttError as err:
            raise LinkError(f"unsubscribe from {topic_filter} failed: {err}", "network") from err

    async def messages(self) -> AsyncIterator[tuple[str, bytes]]:
        """Incoming messages; raises LinkError when the connection drops."""
        try:
            async for msg in self._client.messages:
                payload = msg.payload
                if isinstance(payload, str):
                    data = payload.encode()
                elif isinstance(payload, bytes | bytearray):
                    data = bytes(payload)
                else:
                    data = b""
                yield msg.topic.value, data
        except aiomqtt.MqttError as err:
            raise LinkError(f"connection to {self.where} lost: {err}", "network") from err
        raise LinkError(f"connection to {self.where} closed", "network")


def _before_tcp(msg: str) -> bool:
    """Failures that happen before any byte is exchanged: not a TLS matter."""
    text = msg.lower()
    return any(
        w in text for w in ("refused", "unreachable", "no route", "name or service", "timed out")
    )


def _looks_like_tls(msg: str) -> bool:
    text = msg.lower()
    return any(w in text for w in ("ssl", "certificate", "tls", "handshake", "wrong version"))


async def watch_raw(
    host: str, port: int, topic_filter: str, *, retry_s: float = 1.0
) -> AsyncIterator[tuple[str, bytes]]:
    """Subscribe as a platform would and yield (topic, payload bytes), reconnecting while
    the broker is away. For the demo, benchmarks and diagnostics, not the agent's link."""
    while True:
        try:
            async with aiomqtt.Client(host, port, logger=log) as client:
                await client.subscribe(topic_filter, qos=1)
                async for msg in client.messages:
                    raw = msg.payload
                    data = bytes(raw) if isinstance(raw, bytes | bytearray) else str(raw).encode()
                    yield msg.topic.value, data
        except aiomqtt.MqttError:
            await asyncio.sleep(retry_s)


async def watch(
    host: str, port: int, topic_filter: str, *, retry_s: float = 1.0
) -> AsyncIterator[tuple[str, Any]]:
    """As `watch_raw`, with each payload decoded as JSON (or left as text)."""
    async for topic, raw in watch_raw(host, port, topic_filter, retry_s=retry_s):
        try:
            yield topic, json.loads(raw)
        except ValueError:
            yield topic, raw.decode(errors="replace")
