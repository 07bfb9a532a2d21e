"""The fault-injection suite, short version (bench/faults.py runs the long one): faults
made for real under a running agent, judged from what the platform receives."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Broker
from tests.integration import fault_disk
from tests.integration.fault_clock import judge, run_clock_steps

pytestmark = pytest.mark.integration


async def test_wall_clock_steps_neither_hold_nor_hurry_alarms(
    tmp_path: Path, broker: Broker
) -> None:
    judge(await run_clock_steps(tmp_path, broker, rounds=1))


async def test_a_full_disk_during_an_outage_delays_alarms_and_locks_nothing_up(
    tmp_path: Path, make_broker: Callable[..., Broker]
) -> None:
    broker = make_broker(persistent=True)
    fault_disk.judge(await fault_disk.run_disk_full_outage(tmp_path, broker, rounds=1))
