"""Read planning: transactions and bus time per poll, planned vs one request per point.

    .venv/bin/python bench/read_planning.py [--baudrate 9600] [--markdown]

For every shipped Modbus profile: the requests `plan_reads` makes, against one request
per point, and the RTU bus time of each at the given baud rate (request and response
frames at 10 bits per character for 8N1 / 11 for parity or 2 stop bits, two 3.5-char
silent intervals, 5 ms device turnaround - a practice estimate). The transaction
counts are then checked for real: each profile is read once through a simulated
device on a pty RTU line and the line's transaction counter must match the plan.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from drivers.bus import open_bus
from drivers.device import read_device
from drivers.planner import plan_per_point, plan_reads, rtu_transaction_s
from drivers.profiles import Profile, load_profiles
from drivers.settings import ModbusRtuBusConfig
from fieldsim.modbus_device import SimulatedDevice
from fieldsim.modbus_server import SimServer
from fieldsim.ptypair import PtyPair


def bits_per_char(profile: Profile) -> int:
    s = profile.serial
    return 1 + s.bytesize + (s.parity != "N") + s.stopbits


def figures(profile: Profile, baudrate: int) -> tuple[int, float, int, float]:
    bpc = bits_per_char(profile)
    planned = plan_reads(profile)
    naive = plan_per_point(profile)
    t_plan = sum(rtu_transaction_s(r, baudrate, bpc) for r in planned)
    t_naive = sum(rtu_transaction_s(r, baudrate, bpc) for r in naive)
    return len(planned), t_plan, len(naive), t_naive


async def measured_transactions(profiles: list[Profile]) -> dict[str, int]:
    """Read each profile once over a real pty RTU line; count the line's transactions."""
    out: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with PtyPair(Path(tmp)) as pair:
            devices = [SimulatedDevice(u, p) for u, p in enumerate(profiles, start=1)]
            server = SimServer(devices, kind="rtu", serial_port=str(pair.a))
            await server.start()
            cfg = ModbusRtuBusConfig(kind="modbus-rtu", name="bench", port=str(pair.b))
            try:
                async with open_bus(cfg) as bus:
                    for dev in devices:
                        before = bus.transactions
                        await read_device(bus, dev.unit, plan_reads(dev.profile), dev.profile)
                        out[dev.profile.id] = bus.transactions - before
            finally:
                await server.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baudrate", type=int, default=9600)
    ap.add_argument("--markdown", action="store_true", help="print a table for docs/benchmarks.md")
    args = ap.parse_args()
    profiles = sorted(
        (p for p in load_profiles([]).values() if p.protocol == "modbus"), key=lambda p: p.id
    )
    measured = asyncio.run(measured_transactions(profiles))
    rows = []
    tot = [0, 0.0, 0, 0.0]
    for p in profiles:
        n_plan, t_plan, n_naive, t_naive = figures(p, args.baudrate)
        if measured[p.id] != n_plan:
            print(
                f"{p.id}: planned {n_plan} requests but {measured[p.id]} went out", file=sys.stderr
            )
            return 1
        rows.append((p.id, len(p.points), n_plan, t_plan, n_naive, t_naive))
        for i, v in enumerate((n_plan, t_plan, n_naive, t_naive)):
            tot[i] += v
    head = (
        "profile",
        "points",
        "requests",
        "bus ms",
        "per-point requests",
        "per-point ms",
        "saved",
    )
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print(
            f"{'profile':<26} {'pts':>4} {'req':>4} {'ms':>7} {'naive':>6} {'ms':>7} {'saved':>6}"
        )
    for pid, pts, n, t, nn, tn in rows:
        saved = f"{(1 - t / tn) * 100:.0f} %"
        if args.markdown:
            print(f"| `{pid}` | {pts} | {n} | {t * 1000:.1f} | {nn} | {tn * 1000:.1f} | {saved} |")
        else:
            print(
                f"{pid:<26} {pts:>4} {n:>4} {t * 1000:>7.1f} {nn:>6} {tn * 1000:>7.1f} {saved:>6}"
            )
    saved = f"{(1 - tot[1] / tot[3]) * 100:.0f} %"
    pts_total = sum(r[1] for r in rows)
    if args.markdown:
        print(
            f"| **all {len(rows)}** | {pts_total} | {tot[0]} | {tot[1] * 1000:.1f} | {tot[2]} "
            f"| {tot[3] * 1000:.1f} | {saved} |"
        )
    else:
        print(
            f"{'all':<26} {pts_total:>4} {tot[0]:>4} {tot[1] * 1000:>7.1f} {tot[2]:>6} "
            f"{tot[3] * 1000:>7.1f} {saved:>6}"
        )
    print(
        f"\n(bus time modelled at {args.baudrate} baud; transaction counts checked on a pty line)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
