"""The control protocol: JSON lines over a unix stream socket.

A request is one line `{"id": 1, "method": "status", "params": {}}`; the reply is one
line `{"id": 1, "ok": true, "result": ...}` or `{"id": 1, "ok": false, "error": "..."}`.
A streaming method (`tail`, `scan`) first sends any number of
`{"id", "ok": true, "result": ITEM, "more": true}` lines, then one ordinary reply
that ends it. Several requests may follow each other on one connection.

This module holds the shapes and their checks, no I/O: the server and the client
read and write the lines.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edge_agent.errors import EdgeAgentError

Params = dict[str, Any]

# The longest request line the server reads; replies may be longer (see client).
MAX_LINE_BYTES = 64 * 1024


class ControlError(EdgeAgentError):
    """The daemon cannot be reached, or it answered a request with an error."""


class MethodError(EdgeAgentError):
    """Raised by a handler to reply `ok: false` with this message (a user's mistake)."""


class BadRequestError(ControlError):
    """A request line the server cannot serve; `rid` is its id when it had one."""

    def __init__(self, rid: Any, msg: str) -> None:
        self.rid = rid
        super().__init__(msg)


@dataclass(frozen=True)
class Request:
    rid: Any
    method: str
    params: Params


def encode(message: Mapping[str, Any]) -> bytes:
    """One JSON line. NaN and infinities (a bad reading's value) become null: strict JSON."""
    return json.dumps(_finite(message), ensure_ascii=False, default=str).encode() + b"\n"


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def request(rid: Any, method: str, params: Params | None = None) -> dict[str, Any]:
    return {"id": rid, "method": method, "params": params or {}}


def result_reply(rid: Any, result: Any) -> dict[str, Any]:
    return {"id": rid, "ok": True, "result": result}


def stream_item(rid: Any, item: Any) -> dict[str, Any]:
    return {"id": rid, "ok": True, "result": item, "more": True}


def error_reply(rid: Any, msg: str) -> dict[str, Any]:
    return {"id": rid, "ok": False, "error": msg}


def parse_request(line: bytes) -> Request:
    """A request line as a Request; BadRequestError says what is wrong with it."""
    try:
        req = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadRequestError(None, f"malformed request: not a JSON line ({err})") from err
    if not isinstance(req, dict):
        raise BadRequestError(None, "malformed request: expected a JSON object")
    rid = req.get("id")
    method = req.get("method")
    params = req.get("params", {})
    if params is None:
        params = {}
    if not isinstance(method, str):
        raise BadRequestError(rid, "malformed request: 'method' must be a string")
    if not isinstance(params, dict):
        raise BadRequestError(rid, "malformed request: 'params' must be an object")
    return Request(rid, method, params)


def parse_reply(line: bytes, rid: Any) -> dict[str, Any]:
    """A reply line to request `rid`; ControlError when it is malformed or `ok: false`."""
    try:
        reply = json.loads(line)
    except json.JSONDecodeError as err:
        raise ControlError(f"the agent sent a malformed reply: {err}") from err
    if not isinstance(reply, dict) or reply.get("id") not in (rid, None):
        raise ControlError(f"the agent sent an unexpected reply: {line[:200]!r}")
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error") or "the agent refused the request"))
    return reply
