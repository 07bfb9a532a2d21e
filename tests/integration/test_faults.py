"""The fault-injection suite, short version (bench/faults.py runs the long one): faults
made for real under a running agent, judged from what the platform receives."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Broker
from tests.integration.fault_clock import judge, run_clock_steps

pytestmark = pytest.mark.integration


async def test_wall_clock_steps_neither_hold_nor_hurry_alarms(
    tmp_path: Path, broker: Broker
) -> None:
    judge(await run_clock_steps(tmp_path, broker, rounds=1))
