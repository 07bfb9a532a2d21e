"""Detection runs on rule time: a wall-clock step neither holds nor hurries delays and
stale timers, and what it emits carries wall time."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import DeviceConfig
from edge_agent.pipeline.detection import Detection
from edge_agent.records import AlarmState, DevicePoll, Quality, Reading
from rules.events import PointMeta
from rules.spec import load_rules
from tests.unit.edge_agent.test_clock import HOUR_MS, FakeTime

RULES = """\
[[rules]]
id = "high"
kind = "threshold"
quantity = "pressure"
direction = "above"
on_delay_s = 10
off_delay_s = 10
levels = [ { level = 2, limit = 1.0 } ]

[[rules]]
id = "silent"
kind = "stale"
points = ["*/*"]
after_s = 30
level = 3
"""

POINT = PointMeta("pt-1", "pressure", "pressure", "bar")


def detection(tmp_path: Path, t: FakeTime) -> Detection:
    (tmp_path / "rules.toml").write_text(RULES)
    ruleset = load_rules(["rules.toml"], tmp_path)
    device = DeviceConfig(name="pt-1", bus="b", profile="p")
    return Detection(ruleset, [POINT], [device], "normal", clock=t.clock())


def poll(d: Detection, value: float, quality: Quality = "good") -> DevicePoll:
    s = d.clock.now()
    r = Reading("pt-1", "pressure", s.wall_ms, value, quality, None, s.rule_ms)
    return DevicePoll("pt-1", s.wall_ms, (r,), ok=True)


def run(d: Detection, t: FakeTime, value: float, seconds: int, step_at: int | None = None,
        step_ms: int = 0) -> list[tuple[int, str, str, int]]:  # fmt: skip
    """Poll once a second for `seconds`, stepping the wall clock once; (second, rule,
    state, ts) of each transition."""
    out = []
    for second in range(seconds):
        if second == step_at:
            t.step(step_ms)
        p = poll(d, value)
        out += [(second, tr.rule, str(tr.state), tr.ts_ms) for tr in d.on_poll(p)]
        out += [(second, tr.rule, str(tr.state), tr.ts_ms) for tr in d.tick()]
        t.advance(1_000)
    return out


@pytest.mark.parametrize("step_ms", [-HOUR_MS, HOUR_MS])
def test_on_and_off_delays_run_on_time_across_a_step(tmp_path: Path, step_ms: int) -> None:
    t = FakeTime()
    d = detection(tmp_path, t)
    assert run(d, t, 0.5, 5) == []
    raised = run(d, t, 1.5, 20, step_at=4, step_ms=step_ms)
    assert [(s, r, st) for s, r, st, _ in raised] == [(10, "high", "raised")]
    # the event keeps wall time: the clock as it stands after the step
    assert raised[0][3] == d.clock.now().wall_ms - 10_000
    cleared = run(d, t, 0.5, 20, step_at=3, step_ms=-step_ms)
    assert [(s, r, st) for s, r, st, _ in cleared] == [(10, "high", "cleared")]
    assert d.clock.steps == 2


@pytest.mark.parametrize("step_ms", [-HOUR_MS, HOUR_MS])
def test_stale_comes_after_its_after_s_across_a_step(tmp_path: Path, step_ms: int) -> None:
    t = FakeTime()
    d = detection(tmp_path, t)
    assert run(d, t, 0.5, 5) == []
    events = []
    for second in range(40):
        if second == 5:
            t.step(step_ms)
        out = d.on_poll(poll(d, float("nan"), "bad")) + d.tick()
        events += [(second, tr.rule, str(tr.state)) for tr in out]
        t.advance(1_000)
    # the last good reading was one second before the loop: stale 30 s after it
    assert events == [(29, "silent", "raised")]


def test_a_forward_step_raises_no_stale_on_points_that_answer(tmp_path: Path) -> None:
    t = FakeTime()
    d = detection(tmp_path, t)
    assert run(d, t, 0.5, 60, step_at=10, step_ms=HOUR_MS) == []
    assert d.clock.steps == 1


def test_active_alarms_and_acks_carry_wall_time_after_a_step(tmp_path: Path) -> None:
    t = FakeTime()
    d = detection(tmp_path, t)
    run(d, t, 1.5, 12)
    (active,) = d.active()
    raised_wall = active.ts_ms
    t.step(-HOUR_MS)
    acked = d.ack(active.alarm_id)
    assert acked is not None
    assert acked.state is AlarmState.ACKED
    assert acked.ts_ms == d.clock.now().wall_ms
    # the raise, seen after the step, is repaired into the new wall time
    assert d.active()[0].ts_ms == raised_wall - HOUR_MS
