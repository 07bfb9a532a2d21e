"""`edge-agent demo`, the README's first command: simulated devices, the three packaged
rule packs, a private mosquitto, a platform subscriber; run as a user runs it."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_demo_raises_alarms_from_the_packs_and_the_platform_gets_them_all() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "edge_agent", "demo", "--duration", "60"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Traceback" not in r.stderr
    # Rules of all three packs fire: a coupled burst, a gas threshold, a drainage level.
    for rule in ("water.burst", "water.pressure.low", "gas.methane_lel.high",
                 "drain.level.freeboard"):  # fmt: skip
        assert re.search(rf"agent +RAISED .* {re.escape(rule)} ", out), rule
    sent = re.search(r"alarm transitions: (\d+)", out)
    got = re.search(r"received by the platform: (\d+) alarm events", out)
    assert sent
    assert got
    assert int(sent.group(1)) > 0
    assert int(got.group(1)) == int(sent.group(1))  # every transition reached the platform
    assert "left in the outbox at stop: 0 messages" in out
    # The gas alarm started the manhole's fan and siren, and the platform heard of both.
    for point in ("relay1", "relay2"):
        assert re.search(
            rf"platform action/io-201/{point} seq=\d+ action=gas\.manhole\.ventilate "
            r"value=1\.0 state=done read_back=1\.0", out
        ), point  # fmt: skip
    assert re.search(r"action events received by the platform: \d+ \(\d+ done\)", out)


@pytest.mark.parametrize(
    "options",
    [
        ["--api", "sparkplug-b", "--report", "on-change"],
        ["--api", "thingsboard", "--report-interval", "5"],
    ],
    ids=["sparkplug-b", "thingsboard"],
)
def test_demo_in_another_dialect_delivers_every_alarm(options: list[str]) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "edge_agent", "demo", "--duration", "40", *options],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    sent = re.search(r"alarm transitions: (\d+)", r.stdout)
    got = re.search(r"received by the platform: (\d+) alarm events", r.stdout)
    assert sent
    assert got
    assert int(sent.group(1)) > 0
    assert int(got.group(1)) == int(sent.group(1))
    assert "left in the outbox at stop: 0 messages" in r.stdout
