"""Telemetry reporting: every poll, on change with a deadband, batched by interval."""

from __future__ import annotations

import itertools
import math
import random

from edge_agent.config import DeviceConfig, GatewaySection
from edge_agent.pipeline.report import Reporter, ReportPolicy, report_policies
from edge_agent.records import DevicePoll, Quality, Reading
from rules.events import PointMeta

GOOD, BAD = "good", "bad"


def poll(ts: int, value: float, q: Quality = GOOD, reason: str | None = None) -> DevicePoll:
    r = Reading("pt-1", "pressure", ts, value, q, reason)
    return DevicePoll("pt-1", ts, (r,), ok=q is GOOD)


def values(readings: list[Reading]) -> list[float]:
    return [r.value for r in readings]


def test_every_poll_reports_everything() -> None:
    rep = Reporter({})
    assert [len(rep.take(poll(t, 1.0))) for t in range(5)] == [1] * 5


def test_on_change_reports_moves_beyond_the_deadband_from_the_last_reported_value() -> None:
    rep = Reporter({"pt-1": ReportPolicy("on-change", 0, {"pressure": 0.01})})
    sent = [v for t, x in enumerate([0.30, 0.305, 0.309, 0.311, 0.312, 0.2999, 0.30])
            for v in values(rep.take(poll(t, x)))]  # fmt: skip
    # 0.311 is reported although each step was small: the drift added up.
    assert sent == [0.30, 0.311, 0.2999]


def test_a_quality_change_is_always_reported_whatever_the_deadband() -> None:
    rep = Reporter({"pt-1": ReportPolicy("on-change", 0, {"pressure": 1e9})})
    stream = [
        (0.3, GOOD, None), (0.3, GOOD, None), (math.nan, BAD, "timeout"),
        (math.nan, BAD, "timeout"), (math.nan, BAD, "crc"), (0.3, GOOD, None),
        (0.3, "uncertain", "range"), (0.3, GOOD, None),
    ]  # fmt: skip
    out = [rep.take(poll(t, v, q, why)) for t, (v, q, why) in enumerate(stream)]
    assert [[(r.quality, r.reason) for r in o] for o in out] == [
        [(GOOD, None)], [], [(BAD, "timeout")], [], [(BAD, "crc")], [(GOOD, None)],
        [("uncertain", "range")], [(GOOD, None)],
    ]  # fmt: skip


def test_interval_batches_polls_into_one_message_and_a_quality_change_sends_at_once() -> None:
    rep = Reporter({"pt-1": ReportPolicy("every-poll", 10_000, {})})
    out = [rep.take(poll(t * 1000, float(t))) for t in range(12)]
    assert [len(o) for o in out] == [0] * 10 + [11, 0]
    assert values(out[10]) == [float(t) for t in range(11)]
    # a bad reading flushes what was held with it, at once
    flushed = rep.take(poll(12_000, math.nan, BAD, "timeout"))
    assert [(r.ts_ms, r.quality) for r in flushed] == [(11_000, GOOD), (12_000, BAD)]
    assert rep.drain() == {}


def test_due_releases_a_batch_no_poll_came_to_carry() -> None:
    rep = Reporter({"pt-1": ReportPolicy("on-change", 5_000, {})})
    assert rep.take(poll(0, 1.0)) == []
    assert rep.due(4_999) == {}
    assert values(rep.due(5_000)["pt-1"]) == [1.0]
    assert rep.counters == {"polled": 1, "reported": 1}


def test_nothing_is_missed_on_quality_changes_in_a_long_random_stream() -> None:
    rng = random.Random(7)
    rep = Reporter({"pt-1": ReportPolicy("on-change", 30_000, {"pressure": 0.5})})
    sent: list[Reading] = []
    stream: list[Reading] = []
    for t in range(2000):
        q = BAD if rng.random() < 0.05 else GOOD
        p = poll(
            t * 1000, math.nan if q is BAD else rng.random(), q, "timeout" if q is BAD else None
        )
        stream.append(p.readings[0])
        sent += rep.take(p)
    for batch in rep.drain().values():
        sent += batch
    changes = [b for a, b in itertools.pairwise(stream) if a.quality != b.quality]
    sent_ts = {r.ts_ms for r in sent}
    assert changes
    assert all(r.ts_ms in sent_ts for r in changes)
    assert len(sent) < len(stream) / 2


def test_deadband_lookup_order() -> None:
    gw = GatewaySection(
        id="g", site="s", report="on-change",
        deadband={"pressure": 0.5, "pt-2/pressure": 0.4, "level": 0.3},
    )  # fmt: skip
    devices = [
        DeviceConfig(name="pt-1", bus="b", profile="p", deadband={"pressure": 0.1}),
        DeviceConfig(name="pt-2", bus="b", profile="p", report="every-poll", report_interval_s=60),
        DeviceConfig(name="lv-1", bus="b", profile="p", deadband={"level": 0.2, "lvl": 0.01}),
        DeviceConfig(name="pt-3", bus="b", profile="p"),
    ]
    inf = float("inf")
    points = [
        PointMeta("pt-1", "pressure", "pressure", "MPa", -inf, inf, {}),
        PointMeta("pt-2", "pressure", "pressure", "MPa", -inf, inf, {}),
        PointMeta("lv-1", "lvl", "level", "m", -inf, inf, {}),
        PointMeta("pt-3", "pressure", "pressure", "MPa", -inf, inf, {}),
    ]
    pol = report_policies(gw, devices, points)
    assert pol["pt-1"] == ReportPolicy("on-change", 0, {"pressure": 0.1})
    assert pol["pt-2"] == ReportPolicy("every-poll", 60_000, {"pressure": 0.4})
    assert pol["lv-1"].deadband == {"lvl": 0.01}
    assert pol["pt-3"].deadband == {"pressure": 0.5}
