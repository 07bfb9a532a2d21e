"""Commands on `{root}/cmd/{name}`: validate, authorise, dispatch, reply.

A request is `{"id", "args", "ts"?, "sig"?}`. Every request gets one reply on
`{root}/cmd/{name}/reply`: `{"id", "ok": true, "result"}` or `{"id", "ok": false,
"error"}`. Oversized, malformed, unknown, not allowed, unsigned or stale requests are
refused with a reason and a log line; nothing a sender can put in a command crashes
the uplink.

Signatures (when `[mqtt.commands] hmac_key_file` is set): `sig` is the lowercase hex
HMAC-SHA256, under the key file's bytes, of `"{name}\\n{id}\\n{ts}\\n{args}"` where
`args` is the canonical JSON of the arguments (keys sorted, no spaces) and `ts` is
epoch ms within `max_skew_s` of the gateway's clock. A command's `ts` is valid from
`ts - max_skew_s` to `ts + max_skew_s` of the gateway clock, and its `id` is remembered
until the end of that validity (not `max_skew_s` after arrival), so a captured command,
even one dated in the future, cannot be replayed while its `ts` would still pass.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import msgpack
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_agent.clock import now_ms
from edge_agent.config import CommandsConfig
from edge_agent.errors import EdgeAgentError, validation_brief
from edge_agent.records import Json

log = logging.getLogger(__name__)

MIN_KEY_BYTES = 16  # shorter is guessable (and catches placeholder files left in place)
CommandId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class CommandError(EdgeAgentError):
    """Raised by a handler: the command was understood but could not be done."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Request(_Strict):
    id: CommandId
    args: dict[str, Any] = Field(default_factory=dict)
    ts: int | None = None
    sig: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class _NoArgs(_Strict):
    """`ping` (and an uplink's own `diag`) take no arguments."""


NO_ARGS: type[BaseModel] = _NoArgs

# The commands of the MQTT API (docs/asyncapi.yaml). Who serves which is registered by
# the agent with each command's argument model; `ping` is the router's own.
KNOWN = ("ping", "ack", "reload", "mode", "read", "diag", "write")

Handler = Callable[[Any], Awaitable[Json] | Json]


def canonical_args(args: Mapping[str, Any]) -> str:
    return json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign(key: bytes, name: str, cmd_id: str, ts_ms: int, args: Mapping[str, Any]) -> str:
    """The `sig` of a command (the platform computes the same)."""
    msg = f"{name}\n{cmd_id}\n{ts_ms}\n{canonical_args(args)}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


class CommandRouter:
    """The handler registry. The agent registers ack, reload, mode, read (and may
    replace ping and diag); only names in `[mqtt.commands] allow` ever run."""

    def __init__(
        self,
        cfg: CommandsConfig,
        *,
        base_dir: Path = Path("."),
        fmt: str = "json",
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self.fmt = fmt
        self.key: bytes | None = None
        if cfg.hmac_key_file is not None:
            path = base_dir / cfg.hmac_key_file
            try:
                self.key = path.read_bytes().strip()
            except OSError as err:
                raise EdgeAgentError(
                    f"cannot read [mqtt.commands] hmac_key_file {path}: {err.strerror}"
                ) from err
            if len(self.key) < MIN_KEY_BYTES:
                raise EdgeAgentError(
                    f"[mqtt.commands] hmac_key_file {path} holds {len(self.key)} bytes: use at "
                    f"least {MIN_KEY_BYTES} random bytes (head -c 32 /dev/urandom > {path})"
                )
        self._handlers: dict[str, tuple[Handler, type[BaseModel]]] = {"ping": (self._ping, _NoArgs)}
        self._seen: dict[str, int] = {}  # id -> the gateway time its `ts` stops being valid
        self.counters = {"accepted": 0, "rejected": 0}

    def register(self, name: str, handler: Handler, args: type[BaseModel]) -> None:
        """Serve `name` with `handler`, called with the request's args as `args`."""
        if name not in KNOWN:
            raise ValueError(f"unknown command {name!r}; known: {', '.join(KNOWN)}")
        self._handlers[name] = (handler, args)

    async def __call__(self, name: str, payload: bytes) -> Json:
        cmd_id: str | None = None
        try:
            request = self._parse(payload)
            cmd_id = request.id
            handler, model = self._authorise(name, request)
            args = model.model_validate(request.args)
        except CommandError as err:
            return self._refuse(name, cmd_id, str(err))
        except ValidationError as err:
            return self._refuse(
                name, cmd_id, "invalid command: " + validation_brief(err, root="command")
            )
        try:
            result = handler(args)
            if inspect.isawaitable(result):
                result = await result
        except EdgeAgentError as err:  # the handler's clean refusal (CommandError, OpError...)
            return self._refuse(name, cmd_id, str(err))
        except Exception as err:
            log.exception("command handler failed name=%s id=%s", name, cmd_id)
            return self._refuse(name, cmd_id, f"internal error: {type(err).__name__}: {err}")
        self.counters["accepted"] += 1
        log.info("command done name=%s id=%s", name, cmd_id)
        return {"id": cmd_id, "ok": True, "result": result}

    def _parse(self, payload: bytes) -> Request:
        if len(payload) > self.cfg.max_bytes:
            raise CommandError(
                f"command of {len(payload)} bytes is larger than max_bytes {self.cfg.max_bytes}"
            )
        try:
            raw = (
                json.loads(payload)
                if self.fmt == "json"
                else msgpack.unpackb(payload, raw=False, strict_map_key=True)
            )
        except Exception as err:
            raise CommandError(f"malformed command: not {self.fmt} ({err})") from err
        if not isinstance(raw, dict):
            raise CommandError('malformed command: expected an object {"id", "args"}')
        return Request.model_validate(raw)

    def _authorise(self, name: str, request: Request) -> tuple[Handler, type[BaseModel]]:
        if name not in KNOWN:
            raise CommandError(f"unknown command {name!r}; known: {', '.join(KNOWN)}")
        if name not in self.cfg.allow:
            allowed = ", ".join(self.cfg.allow) or "none"
            raise CommandError(f"command {name!r} is not allowed here (allowed: {allowed})")
        if self.key is not None:
            self._verify(name, request, self.key)
        handler = self._handlers.get(name)
        if handler is None:
            raise CommandError(f"command {name!r} is not available on this gateway")
        return handler

    def _verify(self, name: str, request: Request, key: bytes) -> None:
        if request.sig is None or request.ts is None:
            raise CommandError("unsigned command: `ts` and `sig` are required")
        now = self.clock()
        window_ms = int(self.cfg.max_skew_s * 1000)
        if abs(now - request.ts) > window_ms:
            raise CommandError(f"stale command: ts is {now - request.ts} ms off the clock")
        expected = sign(key, name, request.id, request.ts, request.args)
        if not hmac.compare_digest(expected, request.sig):
            raise CommandError("bad signature")
        self._seen = {k: until for k, until in self._seen.items() if until >= now}
        if request.id in self._seen:
            raise CommandError(f"replayed command id {request.id!r}")
        # Remembered for as long as this `ts` passes the skew check above.
        self._seen[request.id] = request.ts + window_ms

    def _refuse(self, name: str, cmd_id: str | None, error: str) -> Json:
        self.counters["rejected"] += 1
        log.warning("command rejected name=%s id=%s error=%s", name[:64], cmd_id, error)
        return {"id": cmd_id, "ok": False, "error": error}

    @staticmethod
    def _ping(_: _NoArgs) -> Json:
        return {"pong": True, "ts": now_ms()}
