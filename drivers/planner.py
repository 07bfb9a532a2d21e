"""Pure read planning: a profile's points -> the fewest read requests the device accepts.

Points of one table are sorted by address and merged greedily (as Telegraf's
`request.go` does): a point joins the current request when the unmapped gap before it
is at most `quirks.max_gap`, the merged span stays within the protocol limit (125
registers, 2000 bits) and the profile's largest read, and the span touches no
forbidden address. For intervals on a line this first-fit greedy is optimal in request
count when nothing is forbidden.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from drivers.base import BIT_TABLES, TABLES, ReadRequest, Table, rtu_frame_gap_s
from drivers.profiles import PointSpec, Profile


def _forbidden(profile: Profile, table: Table, start: int, end: int) -> bool:
    return any(r.hits(table, start, end) for r in profile.quirks.forbidden)


def plan_reads(profile: Profile, points: Sequence[PointSpec] | None = None) -> list[ReadRequest]:
    """Requests covering every point of `profile` (or just `points`), in table order.

    A line profile (ASCII serial sensor) has no registers: its plan is empty.
    """
    if profile.protocol == "line":
        return []
    chosen = list(profile.points if points is None else points)
    q = profile.quirks
    plan: list[ReadRequest] = []
    for table in TABLES:
        pts = sorted((p for p in chosen if p.table == table), key=lambda p: (p.address, p.end))
        if not pts:
            continue
        limit = q.read_limit(table)  # within the protocol's limits (Quirks checks)
        # A gap in a bit table is counted in bits: 16 per register of gap allowance.
        gap = q.max_gap * 16 if table in BIT_TABLES else q.max_gap
        start, end, names = pts[0].address, pts[0].end, [pts[0].name]
        for p in pts[1:]:
            new_end = max(end, p.end)
            if (
                not q.one_request_per_point
                and p.address - end <= gap
                and new_end - start <= limit
                and not _forbidden(profile, table, start, new_end)
            ):
                end = new_end
                names.append(p.name)
                continue
            plan.append(ReadRequest(table, start, end - start, tuple(names)))
            start, end, names = p.address, p.end, [p.name]
        plan.append(ReadRequest(table, start, end - start, tuple(names)))
    return plan


def plan_per_point(profile: Profile) -> list[ReadRequest]:
    """The naive plan, one request per point: the baseline for benchmarks."""
    return [ReadRequest(p.table, p.address, p.words, (p.name,)) for p in profile.points]


# --- bus time -------------------------------------------------------------------------


def rtu_frame_bytes(req: ReadRequest) -> tuple[int, int]:
    """(request, response) sizes in bytes of a Modbus RTU read: unit, fc, data, CRC."""
    data = math.ceil(req.count / 8) if req.table in BIT_TABLES else 2 * req.count
    return 8, 5 + data


def rtu_transaction_s(
    req: ReadRequest, baudrate: int, bits_per_char: int = 10, turnaround_s: float = 0.005
) -> float:
    """Bus time of one RTU read: both frames, two 3.5-character gaps, device turnaround.

    10 bits per character is 8N1 (start, 8 data, stop); 8E1 or 8N2 make it 11. The
    turnaround (time the slave takes to start answering) is a practice estimate.
    """
    char_s = bits_per_char / baudrate
    request, response = rtu_frame_bytes(req)
    return (
        (request + response) * char_s + 2 * rtu_frame_gap_s(baudrate, bits_per_char) + turnaround_s
    )


@dataclass(frozen=True, slots=True)
class PlanRow:
    """One line of the plan as a technician sees it."""

    table: str
    address: int
    count: int
    points: tuple[str, ...]
    bus_time_s: float


def plan_view(profile: Profile, baudrate: int = 9600) -> list[PlanRow]:
    """The plan with the bus time of each request at `baudrate`, for `profiles plan`."""
    return [
        PlanRow(r.table, r.address, r.count, r.points, rtu_transaction_s(r, baudrate))
        for r in plan_reads(profile)
    ]


def format_plan(profile: Profile, baudrate: int = 9600) -> str:
    """A plain-text table of the plan, one request per line, and the cycle's total."""
    rows = plan_view(profile, baudrate)
    lines = [f"profile {profile.id}: {len(rows)} request(s) per poll at {baudrate} baud"]
    lines.append(f"{'table':<9} {'address':>7} {'count':>5} {'ms':>6}  points")
    for r in rows:
        lines.append(
            f"{r.table:<9} {r.address:>7} {r.count:>5} {r.bus_time_s * 1000:>6.1f}  "
            + ", ".join(r.points)
        )
    total = sum(r.bus_time_s for r in rows)
    naive = sum(rtu_transaction_s(r, baudrate) for r in plan_per_point(profile))
    lines.append(
        f"total {total * 1000:.1f} ms per poll "
        f"(one request per point: {len(profile.points)} request(s), {naive * 1000:.1f} ms)"
    )
    return "\n".join(lines)
