"""TailHub: live items to `tail` clients, filtered, never blocking the pipeline."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.control.client import stream
from edge_agent.control.protocol import ControlError
from edge_agent.control.server import ControlServer
from edge_agent.ops import tail
from edge_agent.ops.errors import OpError
from edge_agent.ops.tail import TailHub, alarm_item, reading_item
from edge_agent.records import AlarmState, AlarmTransition, Reading


def reading(device: str = "pt-101", point: str = "pressure", value: float = 0.4) -> Reading:
    return Reading(device, point, 1795536062120, value, "good")


def transition() -> AlarmTransition:
    return AlarmTransition(
        "a-1",
        1795536067120,
        "pt-101",
        "pressure",
        "water.pressure.low",
        "threshold",
        1,
        AlarmState.RAISED,
        0.08,
        0.1,
        "MPa",
    )


async def take(gen: Any, n: int) -> list[dict[str, Any]]:
    out = []
    async with asyncio.timeout(2):
        for _ in range(n):
            out.append(await anext(gen))
    return out


async def started(hub: TailHub, params: dict[str, Any]) -> Any:
    gen = hub.subscribe(params)
    first = asyncio.ensure_future(anext(gen))
    await asyncio.sleep(0)  # one turn: the generator registers, then waits on its queue
    assert hub.subscribers == 1
    return gen, first


async def until(predicate: Any) -> None:
    """Wait for something another task does over a socket (no event to wait on)."""
    async with asyncio.timeout(2):
        while not predicate():  # noqa: ASYNC110 - polling the hub is the point
            await asyncio.sleep(0.01)


def test_items_have_the_documented_shape() -> None:
    bad = Reading("pt-102", "pressure", 5, float("nan"), "bad", "timeout")
    assert reading_item(bad, "MPa") == {
        "type": "reading",
        "ts_ms": 5,
        "device": "pt-102",
        "point": "pressure",
        "value": None,
        "unit": "MPa",
        "quality": "bad",
        "reason": "timeout",
    }
    item = alarm_item(transition())
    assert item["state"] == "raised"
    assert (item["id"], item["level"], item["eta_s"]) == ("a-1", 1, None)


async def test_subscriber_gets_only_matching_points_and_bare_device_means_all() -> None:
    hub = TailHub()
    gen, first = await started(hub, {"points": ["pt-101", "mh-*/methane_lel"]})
    hub.publish_reading(reading("pt-102"))
    hub.publish_reading(reading("mh-7", "level"))
    hub.publish_reading(reading("mh-7", "methane_lel", 3.0))
    hub.publish_reading(reading("pt-101", "temperature", 12.0))
    got = [await first, *await take(gen, 1)]
    assert [(i["device"], i["point"]) for i in got] == [
        ("mh-7", "methane_lel"),
        ("pt-101", "temperature"),
    ]
    await gen.aclose()
    assert hub.subscribers == 0


async def test_alarms_can_be_left_out() -> None:
    hub = TailHub()
    gen, first = await started(hub, {"alarms": False})
    hub.publish_alarm(transition())
    hub.publish_reading(reading())
    assert (await first)["type"] == "reading"
    await gen.aclose()


async def test_slow_client_loses_items_and_is_told_how_many(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tail, "QUEUE_SIZE", 3)
    hub = TailHub()
    gen, first = await started(hub, {})
    for i in range(10):
        hub.publish_reading(reading(value=float(i)))  # never blocks; 3 to 9 do not fit
    got = [await first, *await take(gen, 2)]
    assert [g["value"] for g in got] == [0.0, 1.0, 2.0]
    hub.publish_reading(reading(value=10.0))
    assert await take(gen, 2) == [
        {"type": "dropped", "count": 7},  # the gap, where it happened
        reading_item(reading(value=10.0)),
    ]
    await gen.aclose()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"points": "pt-101"}, "'points' must be a list"),
        ({"points": [1]}, "'points' must be a list"),
        ({"alarms": "yes"}, "'alarms' must be true or false"),
        ({"points": ["x"] * 101}, "at most 100"),
    ],
)
async def test_bad_params_are_refused(params: dict[str, Any], message: str) -> None:
    with pytest.raises(OpError, match=message):
        await anext(TailHub().subscribe(params))


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="ea-tail-", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


async def test_tail_over_the_control_socket_and_unsubscribe_on_disconnect(
    sock_dir: Path,
) -> None:
    hub = TailHub()
    path = sock_dir / "control.sock"
    async with ControlServer(path, {}, {"tail": hub.subscribe}):
        items = stream(path, "tail", {"points": ["pt-101/*"]})
        first = asyncio.ensure_future(anext(items))
        await until(lambda: hub.subscribers == 1)
        hub.publish_reading(reading(), "MPa")
        hub.publish_alarm(transition())
        got = [await first, await anext(items)]
        assert [g["type"] for g in got] == ["reading", "alarm"]
        assert got[0]["unit"] == "MPa"
        await items.aclose()
        await until(lambda: hub.subscribers == 0)
        with pytest.raises(ControlError, match="'alarms' must be true or false"):
            await anext(stream(path, "tail", {"alarms": 1}))
