"""The clock: rule time follows the monotonic clock; a wall-clock step is seen once."""

from __future__ import annotations

import logging

import pytest

from edge_agent.clock import Clock

HOUR_MS = 3_600_000
T0_NS = 1_790_000_000_000 * 1_000_000  # a wall time in 2026


class FakeTime:
    """Wall and monotonic clocks a test moves by hand (nanoseconds)."""

    def __init__(self) -> None:
        self.wall = T0_NS
        self.mono = 5_000 * 1_000_000

    def advance(self, ms: int) -> None:
        self.wall += ms * 1_000_000
        self.mono += ms * 1_000_000

    def step(self, ms: int) -> None:
        self.wall += ms * 1_000_000

    def clock(self) -> Clock:
        return Clock(wall_ns=lambda: self.wall, mono_ns=lambda: self.mono)


def test_rule_time_starts_at_wall_time_and_follows_the_monotonic_clock() -> None:
    t = FakeTime()
    clock = t.clock()
    first = clock.now()
    assert first.rule_ms == first.wall_ms == T0_NS // 1_000_000
    t.advance(2_500)
    later = clock.now()
    assert later.rule_ms - first.rule_ms == 2_500
    assert clock.steps == 0


@pytest.mark.parametrize("step_ms", [-HOUR_MS, HOUR_MS])
def test_a_step_is_seen_once_reported_and_rule_time_goes_on(
    step_ms: int, caplog: pytest.LogCaptureFixture
) -> None:
    t = FakeTime()
    clock = t.clock()
    heard: list[int] = []
    clock.on_step.append(heard.append)
    before = clock.now()
    t.advance(1_000)
    t.step(step_ms)
    with caplog.at_level(logging.WARNING, logger="edge_agent.clock"):
        after = clock.now()
        t.advance(1_000)
        again = clock.now()
    assert after.rule_ms - before.rule_ms == 1_000  # continuous
    assert after.wall_ms - before.wall_ms == 1_000 + step_ms  # the record has the new time
    assert again.rule_ms - after.rule_ms == 1_000
    assert heard == [step_ms]
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "wall clock stepped" in caplog.records[0].getMessage()
    assert clock.health() == {
        "steps": 1,
        "last_step_ms": step_ms,
        "last_step_ts": after.wall_ms,
        "offset_ms": step_ms,
    }
    # a rule time from before the step in the wall time that now stands
    assert clock.to_wall(before.rule_ms) == before.wall_ms + step_ms


def test_slewing_below_the_tolerance_is_followed_without_a_step() -> None:
    t = FakeTime()
    clock = t.clock()
    clock.now()
    for _ in range(20):
        t.advance(1_000)
        t.step(-50)  # 50 ms per second: far more than NTP slews
        clock.now()
    assert clock.steps == 0
    assert clock.offset_ms == -1_000
