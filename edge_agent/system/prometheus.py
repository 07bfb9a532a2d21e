"""Prometheus text out of the agent: a file for node_exporter's textfile collector,
replaced atomically every interval, and/or a tiny HTTP endpoint (`GET /metrics`) on a
local port. Both take the text from a callable; what is in it is ops.metrics' business."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from edge_agent.system.logs import Episode

log = logging.getLogger(__name__)

Render = Callable[[], Awaitable[str]]
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_REQUEST_BYTES = 8192
REQUEST_TIMEOUT_S = 5.0


def remove_textfile(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def write_textfile(path: Path, text: str) -> None:
    """Write beside the file, then rename: the collector never reads half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, 0o644)  # node_exporter runs as another user
    os.replace(tmp, path)


async def keep_textfile(path: Path, render: Render, interval_s: float) -> None:
    """Rewrite `path` every `interval_s` until cancelled; a failure is logged once per
    episode and retried (a full disk must not stop the agent)."""
    trouble = Episode(log)
    try:
        while True:
            try:
                write_textfile(path, await render())
                trouble.recovered("metrics textfile written again path=%s", path)
            except OSError as err:
                trouble.fault("metrics textfile not written path=%s error=%s", path, err)
            await asyncio.sleep(interval_s)
    finally:
        remove_textfile(path)  # stale numbers are worse than none: the series go away


async def serve_http(host: str, port: int, render: Render) -> None:
    """Answer `GET /metrics` on host:port until cancelled; anything else gets 404."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > MAX_REQUEST_BYTES:
                raise ValueError("request head too large")
            method, target, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            if method in ("GET", "HEAD") and target.split("?", 1)[0] == "/metrics":
                body = (await render()).encode()
                status, ctype = "200 OK", CONTENT_TYPE
            else:
                body, status, ctype = b"not found: try /metrics\n", "404 Not Found", "text/plain"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            if method != "HEAD":
                writer.write(body)
            await writer.drain()
        except (TimeoutError, ValueError, ConnectionError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError):  # fmt: skip
            pass  # a scraper that goes away or talks nonsense gets nothing
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    try:
        server = await asyncio.start_server(handle, host, port, limit=MAX_REQUEST_BYTES)
    except OSError as err:
        # Metrics are an extra: a taken port must not stop polling and alarms.
        log.error("metrics endpoint not started at=%s:%d error=%s", host, port, err)
        return
    log.info("metrics endpoint listening at=%s:%d path=/metrics", host, port)
    async with server:
        await server.serve_forever()
