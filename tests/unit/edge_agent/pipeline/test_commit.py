"""The commit stage with a reporting policy: the outbox holds only what is reported, the
history keeps every reading, and quality changes are never held back."""

from __future__ import annotations

import json
import math
from pathlib import Path

from edge_agent.pipeline.commit import Commit
from edge_agent.pipeline.report import Reporter, ReportPolicy
from edge_agent.records import DevicePoll, Reading
from edge_agent.store import Store
from edge_agent.uplink.payloads import STORED_READINGS


def poll(ts: int, value: float) -> DevicePoll:
    q = "good" if math.isfinite(value) else "bad"
    r = Reading("pt-1", "pressure", ts, value, q, None if q == "good" else "timeout")
    return DevicePoll("pt-1", ts, (r,), ok=q == "good")


def sent(store: Store) -> list[dict[str, object]]:
    rows = store.pending(1000)
    return [r for row in rows for r in json.loads(f"[{row.body}]")]


def test_outbox_holds_what_is_reported_and_history_everything(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "b.db", codec=STORED_READINGS, commit_interval_s=0)
    reporter = Reporter({"pt-1": ReportPolicy("on-change", 0, {"pressure": 0.05})})
    commit = Commit(store, "gw", [], reporter)
    values = [0.30, 0.31, 0.32, math.nan, math.nan, 0.33, 0.40, 0.41]
    for i, v in enumerate(values):
        commit.poll(poll(i * 1000, v))
    commit.flush()
    got = sent(store)
    assert [(r["ts"], r["quality"]) for r in got] == [
        (0, "good"), (3000, "bad"), (5000, "good"), (6000, "good"),
    ]  # fmt: skip
    history = store.conn.execute("SELECT count(*) FROM readings").fetchone()[0]
    assert history == len(values)
    store.close()


def test_interval_batches_are_kept_until_stop_then_stored(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "b.db", codec=STORED_READINGS, commit_interval_s=0)
    commit = Commit(store, "gw", [], Reporter({"pt-1": ReportPolicy("every-poll", 60_000, {})}))
    for i in range(5):
        commit.poll(poll(i * 1000, 0.3))
    assert store.pending(10) == []
    commit.tick(10_000)
    assert store.pending(10) == []
    commit.flush()
    rows = store.pending(10)
    assert len(rows) == 1
    assert rows[0].n == 5
    store.close()
