"""The fault-injection suite, long version: many rounds of what `make test` runs once.

    .venv/bin/python bench/faults.py [--clock-rounds 10] [--step-s 3600 86400 300]
                                     [--disk-rounds 5]

Wall-clock steps (tests/integration/fault_clock.py): per round, under one running agent
with libfaketime on its wall clock, a step back during an on-delay, forward during an
off-delay, and back just after a point went silent; for each step size given. A full
disk during a broker outage (tests/integration/fault_disk.py): per round, broker down,
a 4 MB tmpfs filled, alarms raised and cleared, broker back while the disk is full,
space freed. Needs root (the tmpfs) and libfaketime (scripts/bootstrap.sh).

Prints each scenario's report (the delays the agent applied in its own rule time, the
sessions opened while the disk was full, the most readings held in memory, the alarm
events by seq) and exits 1 on the first judgement that fails.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the scenarios live with the integration tests

from tests.conftest import Broker, free_port, write_mosquitto_conf  # noqa: E402
from tests.integration import fault_clock, fault_disk  # noqa: E402


def start_broker(folder: Path, persistent: bool) -> Broker:
    folder.mkdir()
    port = free_port()
    write_mosquitto_conf(
        folder / "mosquitto.conf", port, persistence_dir=folder if persistent else None
    )
    broker = Broker(port=port, conf=folder / "mosquitto.conf", log=folder / "mosquitto.log")
    broker.start()
    return broker


async def main(clock_rounds: int, steps_s: list[int], disk_rounds: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for step_s in steps_s if clock_rounds else []:
            folder = work / f"clock-{step_s}"
            folder.mkdir()
            broker = start_broker(folder / "broker", persistent=False)
            try:
                report = await fault_clock.run_clock_steps(folder, broker, clock_rounds, step_s)
            finally:
                broker.stop()
            print(f"wall-clock steps of {step_s} s, {clock_rounds} rounds, {report.steps} steps:")
            for what, ms in report.delays_ms.items():
                print(f"  {what:>9}: applied {statistics.median(ms) / 1000:.2f} s median, "
                      f"{min(ms) / 1000:.2f}-{max(ms) / 1000:.2f} s (n={len(ms)})")  # fmt: skip
            print(f"  steps in health: {report.health_steps}, logged: {report.log_lines}")
            fault_clock.judge(report)
        if disk_rounds:
            folder = work / "disk"
            folder.mkdir()
            broker = start_broker(folder / "broker", persistent=True)
            try:
                disk = await fault_disk.run_disk_full_outage(folder, broker, disk_rounds)
            finally:
                broker.stop()
            print(f"full disk during an outage, {disk_rounds} rounds:")
            print(f"  sessions opened while full (per round): {disk.births_while_full}")
            bound = fault_disk.MAX_HELD
            print(f"  most readings held in memory: {disk.held_max} (bound {bound}); "
                  f"dropped and counted: {disk.dropped_readings}")  # fmt: skip
            print(f"  alarm events: {len(disk.alarm_states)} after dedupe, "
                  f"{disk.duplicates} duplicates, {disk.seq_reused} seqs reused, "
                  f"{disk.tracebacks} tracebacks in the log")  # fmt: skip
            fault_disk.judge(disk)
    print("all judgements passed")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clock-rounds", type=int, default=10)
    ap.add_argument("--step-s", type=int, nargs="+", default=[3600, 86400, 300])
    ap.add_argument("--disk-rounds", type=int, default=5)
    a = ap.parse_args()
    sys.exit(asyncio.run(main(a.clock_rounds, a.step_s, a.disk_rounds)))
