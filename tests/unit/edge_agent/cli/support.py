"""Helpers for the CLI tests: the documented examples, the CLI run in-process or as a
subprocess, and a fake agent answering on a control socket."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent.cli.root import build_parser, run_command
from edge_agent.control.protocol import MethodError, Params

REPO = Path(__file__).resolve().parents[4]
DOC = REPO / "docs" / "cli.md"


def doc_example(key: str) -> dict[str, Any]:
    """The first ```json block of docs/cli.md that has `key` at its top level."""
    for block in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S):
        try:
            data = json.loads(block)
        except json.JSONDecodeError:
            continue  # several one-line objects in one block
        if isinstance(data, dict) and key in data:
            return data
    raise AssertionError(f"docs/cli.md has no json example with {key!r}")


def run_cli(argv: list[str]) -> int:
    """What `edge-agent ARGV` does, in this process (without the log set-up, which would
    take over pytest's log capture)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return run_command(args)


def edge_agent(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`edge-agent ARGS` as a user runs it: a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def gateway_toml(tmp: Path, extra: str = "") -> Path:
    cfg = tmp / "gateway.toml"
    cfg.write_text(
        f'[gateway]\nid = "gw-1"\nsite = "s"\ndata_dir = "{tmp}"\n{extra}\n'
        '[[buses]]\nname = "rs485-1"\nkind = "modbus-rtu"\nport = "/dev/ttyS1"\n'
    )
    return cfg


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
