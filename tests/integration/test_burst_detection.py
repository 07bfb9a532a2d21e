"""A medium burst on a simulated district, raised through the running agent with its evidence.

The district: one inlet flow meter and three pressure transmitters of one zone (real
pymodbus server), a daily demand shape. The gateway runs the packaged water pack. Its
time-of-day baselines were learned beforehand from 16 simulated days of the same district
and are in the buffer (as a gateway that ran for two weeks keeps them across restarts);
the agent (a subprocess, real mosquitto) loads them at start. Then a burst adds 12 % to
the inflow and pulls the nearest pressure point 0.03 MPa below its zone: the platform
receives `water.flow.above-baseline` and the level-1 `water.burst.flow-pressure`, each with
the baseline, the delta and (the composite) its member points.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from drivers.profiles import load_profiles
from edge_agent.daemon.loading import load_everything, point_metas
from edge_agent.store import Store
from edge_agent.uplink.payloads import STORED_READINGS
from fieldsim.district import OFFSETS, district_rows
from fieldsim.district import demand_m3h as demand
from fieldsim.district import head_mpa as head
from fieldsim.modbus_device import SimulatedDevice
from fieldsim.modbus_server import serve_tcp
from rules.backtest import readings_from_rows
from rules.engine import Engine
from tests.conftest import Broker
from tests.integration.agent_process import Platform, agent_process, gateway_toml, subscribe_forever

pytestmark = pytest.mark.integration

FLOW_PROFILE = """\
id = "test-flow-float32"
manufacturer = "test"
model = "inlet flow meter, float32 m3/h"
source = "a test profile"
default_unit = 1

[[points]]
name = "flow"
quantity = "flow"
unit = "m3/h"
table = "holding"
address = 0
type = "float32"
byte_order = "ABCD"
range = [0.0, 5000.0]
"""
# The pack as shipped, with its on-delays shortened to a few polls (the test waits seconds,
# not minutes; a poll or two still passes, so a peer residual at start-up, before every
# peer has answered once, is not mistaken for a drop).
OVERRIDES = """\
[[overrides]]
rule = "water.flow.above-baseline"
points = ["fm-in/flow"]
on_delay_s = 2

[[overrides]]
rule = "water.pressure.residual"
points = ["pt-*/pressure"]
on_delay_s = 2
"""


class District:
    """The process values the simulated devices serve, from the wall clock."""

    def __init__(self) -> None:
        self.burst = False

    def flow(self, _t: float) -> float:
        return demand(time.time()) * (1.12 if self.burst else 1.0)

    def pressure(self, device: str) -> object:
        def value(_t: float) -> float:
            drop = 0.03 if self.burst and device == "pt-1" else 0.0
            return head(time.time()) + OFFSETS[device] - drop

        return value


def learn_into_buffer(config: Path) -> int:
    """What the gateway would have learned in 16 days, kept in its buffer.db."""
    cfg, profiles, ruleset = load_everything(config)
    engine = Engine(ruleset, point_metas(cfg, profiles))
    start_ms = int((time.time() - 60 - 16 * 86_400) * 1000)
    past = readings_from_rows(district_rows(start_ms, days=16, seed=7))
    remap = np.array([engine.index(k) for k in past.keys], dtype=np.int64)
    engine.process_batch(remap[past.point_idx], past.ts_ms, past.value, past.good)
    store = Store.open(cfg.data_dir / "buffer.db", codec=STORED_READINGS, commit_interval_s=0)
    try:
        return store.save_baselines(engine.learned())
    finally:
        store.close()


async def test_a_medium_burst_is_raised_by_the_running_agent_with_its_evidence(
    tmp_path: Path, broker: Broker
) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "flow.toml").write_text(FLOW_PROFILE)
    (tmp_path / "overrides.toml").write_text(OVERRIDES)
    profiles = load_profiles([tmp_path / "profiles"])
    district = District()
    devices = [SimulatedDevice(1, profiles["test-flow-float32"], {"flow": district.flow})]
    devices += [
        SimulatedDevice(2 + i, profiles["generic-pressure-float32"],
                        {"pressure": district.pressure(dev)})  # type: ignore[dict-item]
        for i, dev in enumerate(OFFSETS)
    ]  # fmt: skip
    platform = Platform()
    root = "lifeline/test-site/gw-test"
    async with serve_tcp(devices) as port:
        config = tmp_path / "gateway.toml"
        text = gateway_toml(
            tmp_path / "data", broker.port,
            devices=[{"name": "fm-in", "bus": "plant", "unit": 1, "profile": "test-flow-float32",
                      "poll_interval_s": 0.5, "tags": {"zone": "z"}}]
            + [{"name": dev, "bus": "plant", "unit": 2 + i, "profile": "generic-pressure-float32",
                "poll_interval_s": 0.5, "tags": {"zone": "z"}} for i, dev in enumerate(OFFSETS)],
            buses=[{"name": "plant", "kind": "modbus-tcp", "host": "127.0.0.1", "port": port}],
            rules=["water", "overrides.toml"],
        )  # fmt: skip
        config.write_text(text.replace("[mqtt]", 'profiles = ["profiles/"]\n\n[mqtt]', 1))
        assert learn_into_buffer(config) == 4  # the flow and three pressure points
        sub = asyncio.create_task(
            subscribe_forever(platform, broker.port, f"{root}/#", "platform-burst", False)
        )
        try:
            async with agent_process(config, tmp_path / "agent.log") as agent:
                await platform.wait_for(lambda: len(platform.of("telemetry/fm-in")) >= 3, 30)
                await platform.wait_for(lambda: len(platform.of("telemetry/pt-1")) >= 3, 30)
                assert platform.of("alarm") == [], "a normal hour raised nothing"
                district.burst = True
                await platform.wait_for(
                    lambda: any(a["rule"] == "water.burst.flow-pressure"
                                for a in platform.of("alarm")), 30,
                )  # fmt: skip
                assert await agent.stop() == 0, agent.log_text()
        finally:
            sub.cancel()

    raised = [a for a in platform.of("alarm") if a["state"] == "raised"]
    flow = next(a for a in raised if a["rule"] == "water.flow.above-baseline")
    assert (flow["device"], flow["point"], flow["level"]) == ("fm-in", "flow", 2)
    ev = flow["evidence"]
    expected = demand(flow["ts"] / 1000)
    assert ev["baseline"] == pytest.approx(expected, rel=0.04)  # learned, not a fixed limit
    assert ev["delta"] == pytest.approx(0.12 * expected, rel=0.4)
    assert ev["window_s"] == 900.0
    assert "note" not in ev
    burst = next(a for a in raised if a["rule"] == "water.burst.flow-pressure")
    assert burst["level"] == 1
    members = {(m["device"], m["rule"]) for m in burst["evidence"]["members"]}
    assert members >= {("fm-in", "water.flow.above-baseline"), ("pt-1", "water.pressure.residual")}
