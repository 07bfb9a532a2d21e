"""Which profile fits a device: Read Device Identification (0x2B/0x0E) and fingerprints.

`identify(bus, unit, profiles)` is what `edge-agent scan --identify` runs per unit:

1. Read Device Identification, basic then regular objects (vendor, product code,
   revision, product/model name), matched against each profile's `identify.vendor`
   and `identify.product` patterns. Many field sensors do not implement 0x2B; they
   answer exception 1 (illegal function) or nothing, which is fine.
2. Register fingerprints: profiles that name vendor/product id registers
   (`identify.registers`) are read and compared, so cheap sensors without 0x2B are
   recognised too (DFRobot's VID 0x3343, say).

A profile is only suggested; the installer confirms it in gateway.toml.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from drivers.base import Bus, Table
from drivers.device import read_device
from drivers.errors import BusClosed, DeviceException, DriverError, exception_name
from drivers.planner import plan_reads
from drivers.profiles import Profile

log = logging.getLogger(__name__)

# Object ids of Read Device Identification (Modbus application protocol §6.21).
OBJECT_NAMES = {
    0x00: "VendorName",
    0x01: "ProductCode",
    0x02: "MajorMinorRevision",
    0x03: "VendorUrl",
    0x04: "ProductName",
    0x05: "ModelName",
    0x06: "UserApplicationName",
}
BASIC, REGULAR = 1, 2


class IdentifyingBus(Bus, Protocol):
    async def read_identification(
        self, unit: int, read_code: int = 1, object_id: int = 0
    ) -> tuple[dict[int, bytes], int]: ...


@dataclass(frozen=True, slots=True)
class Candidate:
    profile_id: str
    by: Literal["identification", "registers"]
    detail: str


@dataclass(frozen=True, slots=True)
class Identification:
    """What a unit said about itself, and the profiles that fit."""

    unit: int
    objects: Mapping[str, str] = field(default_factory=dict)
    reason: str | None = None  # why there are no objects (exception code, timeout)
    candidates: tuple[Candidate, ...] = ()


async def read_identification(bus: IdentifyingBus, unit: int) -> dict[str, str]:
    """All basic and regular objects a unit sends, by name. Raises DriverError."""
    objects: dict[int, bytes] = {}
    for read_code in (BASIC, REGULAR):
        object_id = 0
        for _ in range(16):  # a device that always says "more follows" must not trap us
            got, next_id = await bus.read_identification(unit, read_code, object_id)
            objects.update(got)
            if not next_id or next_id <= object_id:
                break
            object_id = next_id
        if read_code == BASIC and len(objects) < 3:
            break  # basic is mandatory; a device without it has no regular objects either
    return {
        OBJECT_NAMES.get(k, f"0x{k:02X}"): v.decode("utf-8", "replace").strip("\x00 ").strip()
        for k, v in sorted(objects.items())
    }


def match_objects(objects: Mapping[str, str], profiles: Mapping[str, Profile]) -> list[Candidate]:
    """Profiles whose identify patterns match the identification objects."""
    vendor = objects.get("VendorName", "")
    products = [objects.get(k, "") for k in ("ProductCode", "ProductName", "ModelName")]
    out = []
    for pid, prof in sorted(profiles.items()):
        rule = prof.identify
        if rule is None or (rule.vendor is None and rule.product is None):
            continue
        if rule.vendor is not None and not re.search(rule.vendor, vendor, re.IGNORECASE):
            continue
        if rule.product is not None and not any(
            re.search(rule.product, p, re.IGNORECASE) for p in products if p
        ):
            continue
        out.append(
            Candidate(pid, "identification", f"{vendor} {' '.join(p for p in products if p)}")
        )
    return out


async def match_registers(bus: Bus, unit: int, profiles: Mapping[str, Profile]) -> list[Candidate]:
    """Profiles whose fingerprint registers read the expected values on this unit."""
    out = []
    for pid, prof in sorted(profiles.items()):
        rule = prof.identify
        if rule is None or not rule.registers:
            continue
        points = [prof.point(fp.point) for fp in rule.registers]
        values = {v.name: v for v in await read_device(bus, unit, plan_reads(prof, points), prof)}
        if all(
            values[fp.point].quality != "bad" and values[fp.point].value == fp.equals
            for fp in rule.registers
        ):
            detail = ", ".join(f"{fp.point}={fp.equals:g}" for fp in rule.registers)
            out.append(Candidate(pid, "registers", detail))
        elif any(values[fp.point].reason in ("timeout", "bus closed") for fp in rule.registers):
            break  # nobody there: no point in trying the other fingerprints
    return out


async def identify(
    bus: IdentifyingBus, unit: int, profiles: Mapping[str, Profile]
) -> Identification:
    """Ask `unit` who it is and which profiles fit. Never raises DriverError but BusClosed."""
    objects: dict[str, str] = {}
    reason: str | None = None
    try:
        objects = await read_identification(bus, unit)
    except BusClosed:
        raise
    except DriverError as err:
        reason = err.reason
        log.debug("no device identification unit=%d reason=%s", unit, reason)
    candidates = match_objects(objects, profiles) if objects else []
    if reason != "timeout":
        candidates += await match_registers(bus, unit, profiles)
    return Identification(unit, objects, reason, tuple(candidates))


def suggest(results: Sequence[Identification]) -> str:
    """Plain-text summary for the CLI: one line per unit that answered."""
    lines = []
    for r in results:
        said = "; ".join(f"{k}={v}" for k, v in r.objects.items()) or f"no 0x2B ({r.reason})"
        fits = ", ".join(f"{c.profile_id} (by {c.by})" for c in r.candidates) or "no profile"
        lines.append(f"unit {r.unit}: {said} -> {fits}")
    return "\n".join(lines)


# --- scan -----------------------------------------------------------------------------

_IDENTITY_KEYS = {
    "VendorName": "vendor",
    "ProductCode": "product_code",
    "MajorMinorRevision": "revision",
    "ProductName": "product_name",
    "ModelName": "model_name",
}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One unit id probed by `scan`: the shape docs/cli.md gives for the `scan` method."""

    unit: int
    answer: Literal["registers", "exception"] | None
    registers: tuple[int, ...] | None = None
    exception_code: int | None = None
    latency_ms: float = 0.0
    identity: Mapping[str, str] | None = None
    candidates: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "unit": self.unit,
            "answer": self.answer,
            "registers": list(self.registers) if self.registers is not None else None,
            "exception_code": self.exception_code,
            "exception": (
                exception_name(self.exception_code) if self.exception_code is not None else None
            ),
            "latency_ms": round(self.latency_ms, 1),
            "identity": dict(self.identity) if self.identity is not None else None,
            "candidates": list(self.candidates),
        }


async def probe_unit(
    bus: IdentifyingBus,
    unit: int,
    *,
    table: Table = "holding",
    address: int = 0,
    identify_unit: bool = False,
    profiles: Mapping[str, Profile] | None = None,
    timeout_s: float | None = None,
) -> ProbeResult:
    """Is anything at `unit`? A one-register read; an exception reply counts as an
    answer. With `identify_unit`, an answering unit is also asked who it is. With
    `timeout_s`, one attempt that waits that long (when the bus can: `read_within`).
    Raises BusClosed only (the bus itself is gone)."""
    started = time.monotonic()
    within = getattr(bus, "read_within", None)
    try:
        if timeout_s is not None and within is not None:
            regs = await within(unit, table, address, 1, timeout_s)
        else:
            regs = await bus.read(unit, table, address, 1)
        result = ProbeResult(unit, "registers", registers=tuple(regs))
    except DeviceException as err:
        result = ProbeResult(unit, "exception", exception_code=err.code)
    except BusClosed:
        raise
    except DriverError:
        return ProbeResult(unit, None, latency_ms=(time.monotonic() - started) * 1000)
    latency_ms = (time.monotonic() - started) * 1000
    identity: dict[str, str] | None = None
    candidates: tuple[str, ...] = ()
    if identify_unit:
        ident = await identify(bus, unit, profiles or {})
        if ident.objects:
            identity = {_IDENTITY_KEYS.get(k, k): v for k, v in ident.objects.items()}
        candidates = tuple(c.profile_id for c in ident.candidates)
    return ProbeResult(
        unit,
        result.answer,
        result.registers,
        result.exception_code,
        latency_ms,
        identity,
        candidates,
    )


async def scan_units(
    bus: IdentifyingBus,
    units: Iterable[int],
    **kwargs: Any,
) -> AsyncIterator[ProbeResult]:
    """Probe each unit in turn (see probe_unit); the caller reports progress."""
    for unit in units:
        yield await probe_unit(bus, unit, **kwargs)
