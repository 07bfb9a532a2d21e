"""Many frames against a misbehaving device: how many wrong answers became readings.

    .venv/bin/python bench/misbehaving.py [--frames 1000] [--fault-share 0.3] [--seed 15]

For TCP and RTU over TCP: a `fieldsim.misbehaving.MisbehavingDevice` answers each
request right or, with probability `--fault-share`, with a fault drawn at random
(wrong function code, late, duplicated, trailing bytes, padded MBAP, transaction id 0,
another unit). The driver reads two same-shaped blocks of holding and input registers
in turn, retries 0. Reports per framing: readings taken, refused, readings under the
wrong point (a value of another address or table), faulty answers taken. The short
version of this is tests/integration/test_misbehaving_device.py.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

from drivers.bus import open_bus
from drivers.errors import DriverError
from drivers.settings import ModbusRtuOverTcpBusConfig, ModbusTcpBusConfig
from fieldsim.misbehaving import Fault, MisbehavingDevice, register_value

FAULTS: dict[str, list[Fault]] = {
    "tcp": ["wrong-fc", "late", "duplicate", "trailing", "padded", "tid0", "other-unit"],
    "rtu": ["wrong-fc", "late", "duplicate", "trailing", "other-unit"],
}
REFUSED = {"wrong-fc", "late", "trailing", "padded", "tid0", "other-unit"}
TIMEOUT_S = 0.15


def bus_config(framing: str, port: int) -> Any:
    common = {"host": "127.0.0.1", "port": port, "timeout_s": TIMEOUT_S, "retries": 0}
    if framing == "tcp":
        return ModbusTcpBusConfig(kind="modbus-tcp", name="tcp-1", **common)
    return ModbusRtuOverTcpBusConfig(kind="modbus-rtu-over-tcp", name="gw-1", **common)


async def run(framing: str, frames: int, share: float, rng: random.Random) -> None:
    faults: list[Fault] = [
        rng.choice(FAULTS[framing]) if rng.random() < share else "good" for _ in range(frames)
    ]
    device = MisbehavingDevice(
        unit=7,
        faults=faults,
        framing=framing,  # type: ignore[arg-type]
        late_s=1.5 * TIMEOUT_S,
    )
    taken = refused = wrong = faulty_taken = 0
    t0 = time.monotonic()
    async with device, open_bus(bus_config(framing, device.port)) as bus:
        for n in range(frames):
            table = "holding" if n % 3 else "input"
            address = (0, 10)[n % 2]
            try:
                values = await bus.read(7, table, address, 2)
            except DriverError:
                refused += 1
                continue
            taken += 1
            fc = 3 if table == "holding" else 4
            if values != [register_value(fc, address + i) for i in (0, 1)]:
                wrong += 1
            if faults[n] in REFUSED:
                faulty_taken += 1
    dt = time.monotonic() - t0
    n_faults = sum(f != "good" for f in faults)
    print(
        f"{framing:>3}: {frames} frames ({n_faults} with a fault) in {dt:.0f} s: "
        f"{taken} readings taken, {refused} refused, {wrong} under the wrong point, "
        f"{faulty_taken} faulty answers taken"
    )


async def main(frames: int, share: float, seed: int) -> None:
    rng = random.Random(seed)
    for framing in ("tcp", "rtu"):
        await run(framing, frames, share, rng)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--fault-share", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=15)
    a = ap.parse_args()
    asyncio.run(main(a.frames, a.fault_share, a.seed))
