"""A stand-in agent process for kill tests: runs an Uplink over a store, optionally
feeding polls and alarms, until it is killed.

usage: python uplink_proc.py CONFIG_JSON DB_PATH [--feed N]
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from edge_agent.clock import now_ms
from edge_agent.config import GatewayConfig
from edge_agent.records import AlarmState, AlarmTransition, DevicePoll, Reading
from edge_agent.store import Store
from edge_agent.uplink.drain import Uplink
from edge_agent.uplink.payloads import STORED_READINGS


async def main(cfg: GatewayConfig) -> None:
    store = Store.open(sys.argv[2], codec=STORED_READINGS, commit_interval_s=0)
    feed = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--feed" else 0
    uplink = Uplink(cfg, store, backoff_min_s=0.1, backoff_max_s=0.5)
    task = asyncio.create_task(uplink.run())
    for i in range(feed):
        ts = now_ms()
        store.add_poll(
            DevicePoll("dev-1", ts, (Reading("dev-1", "level", ts, float(i), "good"),), True),
            cfg.gateway.id,
        )
        if i % 10 == 0:
            store.add_alarms(
                [
                    AlarmTransition(
                        f"a-{i}",
                        ts,
                        "dev-1",
                        "level",
                        "r",
                        "threshold",
                        3,
                        AlarmState.RAISED,
                        float(i),
                        1.0,
                        "m",
                    )
                ],
                cfg.gateway.id,
            )
        await asyncio.sleep(0.002)
    print("fed", flush=True)
    await task


if __name__ == "__main__":
    config = GatewayConfig.model_validate(json.loads(Path(sys.argv[1]).read_text()))
    config._base_dir = Path(sys.argv[1]).parent
    asyncio.run(main(config))
