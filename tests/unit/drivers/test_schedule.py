"""Deadlines, overruns and per-device backoff, with time passed in by hand."""

from __future__ import annotations

import math

import pytest

from drivers.base import PointValue
from drivers.schedule import BackoffPolicy, DeviceHealth, Ticker, poll_failure

GOOD = [PointValue("a", 1.0, "good")]
TIMEOUT = [PointValue("a", math.nan, "bad", "timeout"), PointValue("b", math.nan, "bad", "timeout")]
EXCEPTION = [PointValue("a", math.nan, "bad", "exception code 2")]


def test_poll_failure_only_for_transport_faults() -> None:
    assert poll_failure(TIMEOUT) == "timeout"
    assert poll_failure([PointValue("a", math.nan, "bad", "bus closed")]) == "bus closed"
    assert poll_failure(EXCEPTION) is None  # the device answered
    assert poll_failure([*TIMEOUT, *GOOD]) is None
    assert poll_failure([PointValue("a", 9.0, "bad", "out of range")]) is None
    assert poll_failure([]) is None


def test_ticker_does_not_drift() -> None:
    t = Ticker(1.0, start=100.0)
    assert [t.advance(now) for now in (100.2, 101.3, 102.1)] == [101.0, 102.0, 103.0]
    assert t.overruns == 0


def test_ticker_skips_missed_ticks_and_counts_them() -> None:
    t = Ticker(1.0, start=0.0)
    assert t.advance(3.5) == 4.0  # deadlines 1, 2, 3 were missed
    assert t.overruns == 3
    assert t.overruns_since_last() == 3
    assert t.advance(4.1) == 5.0
    assert t.overruns_since_last() == 0


def test_ticker_rejects_zero_interval() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        Ticker(0, start=0)


def test_device_goes_offline_after_n_failures_once() -> None:
    h = DeviceHealth(1.0, BackoffPolicy(offline_after=3))
    assert [h.record(TIMEOUT) for _ in range(5)] == [None, None, "offline", None, None]
    assert not h.online
    assert h.reason == "timeout"
    assert h.record(GOOD) == "online"
    assert h.record(GOOD) is None
    assert h.failures_in_row == 0


def test_exception_replies_keep_a_device_online() -> None:
    h = DeviceHealth(1.0, BackoffPolicy(offline_after=1))
    assert h.record(EXCEPTION) is None
    assert h.online


def test_backoff_grows_to_the_cap_and_resets() -> None:
    h = DeviceHealth(1.0, BackoffPolicy(offline_after=1, first_probe_s=2, factor=2, max_probe_s=10))
    h.record(TIMEOUT)
    probes = [h.probe_s]
    for _ in range(4):
        h.record(TIMEOUT)
        probes.append(h.probe_s)
    assert probes == [2, 4, 8, 10, 10]
    h.record(GOOD)
    assert h.probe_s == 0


def test_probe_is_never_faster_than_the_poll_interval() -> None:
    h = DeviceHealth(30.0, BackoffPolicy(offline_after=1, first_probe_s=5))
    h.record(TIMEOUT)
    assert h.probe_s == 30.0


def test_next_poll_follows_ticker_online_and_backoff_offline() -> None:
    h = DeviceHealth(1.0, BackoffPolicy(offline_after=1, first_probe_s=4))
    t = Ticker(1.0, start=0.0)
    assert h.next_poll(t, now=0.1) == 1.0
    h.record(TIMEOUT)
    assert h.next_poll(t, now=1.2) == 6.0  # 1.2 + 4 s backoff, on the 1 s grid
    h.record(GOOD)
    assert h.next_poll(t, now=6.1) == 7.0
