"""The action stage's decisions, without a bus: dry-run, levels, scope, min_interval_s,
on_clear only for alarms acted on, modes, `off`, and a failed write's alarm."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import pytest

from drivers.profiles import load_profiles
from edge_agent.config import GatewayConfig
from edge_agent.daemon.loading import point_metas
from edge_agent.pipeline.actions import ActionStage, WriteRefused
from edge_agent.pipeline.commit import Commit
from edge_agent.pipeline.detection import Detection
from edge_agent.records import ActionState, AlarmState, AlarmTransition
from edge_agent.store import Store
from edge_agent.uplink.payloads import STORED_READINGS
from rules.spec import load_rules

PROFILES = load_profiles([])
RULES = """
[[rules]]
id = "gas.high"
kind = "threshold"
quantity = "methane_lel"
direction = "above"
levels = [ { level = 2, limit = 20.0 }, { level = 1, limit = 50.0 } ]

[[actions]]
id = "vent"
on = { rule = "gas.high", level_at_most = 1 }
scope = ["zone"]
set = [ { point = "relay1", value = 1 } ]
on_clear = [ { point = "relay1", value = 0 } ]
min_interval_s = 3600
modes = ["normal"]
"""
CONFIG = """
[gateway]
id = "gw-1"
site = "lab"
actions = "{setting}"
[[buses]]
name = "mh"
kind = "modbus-tcp"
host = "127.0.0.1"
[[devices]]
name = "gas-7"
bus = "mh"
profile = "generic-gas-lel-int16"
tags = {{ zone = "mh-7" }}
[[devices]]
name = "io-7"
bus = "mh"
unit = 2
profile = "waveshare-modbus-relay-d"
tags = {{ zone = "mh-7" }}
[[devices]]
name = "io-8"
bus = "mh"
unit = 3
profile = "waveshare-modbus-relay-d"
tags = {{ zone = "mh-8" }}
"""


def stage(tmp_path: Path, setting: str = "dry-run") -> ActionStage:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "rules.toml").write_text(RULES)
    cfg = GatewayConfig.model_validate(tomllib.loads(CONFIG.format(setting=setting)))
    ruleset = load_rules(["rules.toml"], tmp_path)
    store = Store.open(tmp_path / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    detection = Detection(ruleset, point_metas(cfg, PROFILES), cfg.devices, "normal")
    commit = Commit(store, "gw-1", [])
    return ActionStage(cfg, PROFILES, ruleset, store, commit, detection)


def alarm(state: AlarmState, level: int = 1, alarm_id: str = "a-1") -> AlarmTransition:
    return AlarmTransition(alarm_id, 1000, "gas-7", "methane", "gas.high", "threshold", level,
                           state, 60.0, 50.0, "%LEL")  # fmt: skip


def test_dry_run_decides_for_the_scoped_target_only(tmp_path: Path) -> None:
    s = stage(tmp_path)
    low = asyncio.run(s.handle(alarm(AlarmState.RAISED, level=2)))
    [e] = asyncio.run(s.handle(alarm(AlarmState.LEVEL_CHANGED, level=1)))
    assert low == []  # level 2 is not severe enough for level_at_most = 1
    assert (e.key, e.state, e.alarm_id, e.value) == ("io-7/relay1", ActionState.DRY_RUN, "a-1", 1)
    assert e.reason is not None
    assert "dry-run" in e.reason
    # Acted on for this alarm: not again on a repeat, but on_clear when it clears.
    assert asyncio.run(s.handle(alarm(AlarmState.LEVEL_CHANGED, level=1))) == []
    [off] = asyncio.run(s.handle(alarm(AlarmState.CLEARED)))
    assert (off.value, off.state) == (0, ActionState.DRY_RUN)
    assert [r.kind for r in s.store.pending(10)] == ["action", "action"]


def test_min_interval_blocks_a_second_alarm_and_clear_without_action_is_quiet(
    tmp_path: Path,
) -> None:
    s = stage(tmp_path)
    asyncio.run(s.handle(alarm(AlarmState.RAISED, alarm_id="a-1")))
    [again] = asyncio.run(s.handle(alarm(AlarmState.RAISED, alarm_id="a-2")))
    assert again.state is ActionState.BLOCKED
    assert again.reason is not None
    assert again.reason.startswith("min_interval_s 3600")
    assert asyncio.run(s.handle(alarm(AlarmState.CLEARED, alarm_id="a-3"))) == []


def test_modes_and_off_switch_actions_off(tmp_path: Path) -> None:
    s = stage(tmp_path / "a")
    s.detection.set_mode("maintenance")
    assert asyncio.run(s.handle(alarm(AlarmState.RAISED))) == []
    off = stage(tmp_path / "b", "off")
    off.on_alarm(alarm(AlarmState.RAISED))
    assert off.queue.qsize() == 0


def test_a_failed_write_raises_an_action_alarm(tmp_path: Path) -> None:
    s = stage(tmp_path, "auto")  # no bus is open here: the write fails
    [e] = asyncio.run(s.handle(alarm(AlarmState.RAISED)))
    assert (e.state, e.reason) == (ActionState.FAILED, "its bus is not open")
    [raised] = [t for t in s.detection.active() if t.kind == "action"]
    assert (raised.device, raised.point, raised.rule, raised.level) == ("io-7", "relay1", "vent", 2)


def test_an_operator_write_the_point_refuses_is_recorded_and_refused(tmp_path: Path) -> None:
    s = stage(tmp_path, "auto")
    with pytest.raises(WriteRefused, match="outside write_range"):
        asyncio.run(s.command_write("io-7/relay2", 3))
    with pytest.raises(WriteRefused, match="has no point"):
        asyncio.run(s.command_write("io-7/relay9", 1))
    [e] = s.store.recent_actions(5)
    assert (e.action, e.state, e.alarm_id) == ("command", ActionState.BLOCKED, None)
    assert e.value == 3


def test_an_operator_write_holds_the_action_off_the_point(tmp_path: Path) -> None:
    s = stage(tmp_path, "auto")
    operator = asyncio.run(s.command_write("io-7/relay1", 0))  # no bus here: it fails
    [e] = asyncio.run(s.handle(alarm(AlarmState.RAISED)))
    assert operator.state is ActionState.FAILED
    assert (e.state, (e.reason or "")[:23]) == (ActionState.BLOCKED, "operator wrote io-7/rel")
    assert "manual_hold_off_s 600" in (e.reason or "")
