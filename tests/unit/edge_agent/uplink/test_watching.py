"""Alarm events read back from each dialect's own messages (the demo's platform view)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.uplink.dialects import make_dialect
from edge_agent.uplink.watching import alarm_events, topic_filter
from rules.events import PointMeta
from tests.unit.edge_agent.uplink.dialect_support import alarm_row, config, store, transition


@pytest.mark.parametrize("api", ["edge-agent", "sparkplug-b", "thingsboard"])
def test_every_dialect_reads_back_the_alarm_it_sent(tmp_path: Path, api: str) -> None:
    cfg = config(tmp_path, api)
    points = [PointMeta("pt-101", "pressure", "pressure", "MPa")]
    d = make_dialect(cfg, store(tmp_path), "9.9", points)
    d.will()
    d.birth()
    events = [
        e
        for m in d.alarm(alarm_row(1, transition()))
        for e in alarm_events(cfg, m.topic, m.payload)
    ]
    assert len(events) == 1
    e = events[0]
    assert (e["device"], e["point"], e["state"], e["level"], e["id"]) == (
        "pt-101", "pressure", "raised", 2, "a-1",
    )  # fmt: skip
    assert e["value"] == pytest.approx(0.12)
    assert topic_filter(cfg).endswith("#")
