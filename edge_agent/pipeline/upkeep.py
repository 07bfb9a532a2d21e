"""Keeping the buffer in shape while the agent runs: batched readings committed when
due, the size cap every second, retention pruning every minute.

A full or failing disk stops upkeep, never the agent: it logs once per episode and
tries again every `retry_s`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3

from edge_agent.clock import t_mono
from edge_agent.store import Store, StoreError
from edge_agent.system.logs import Episode

log = logging.getLogger(__name__)

# What a full or failing disk raises from the store: upkeep also runs raw SQL.
STORE_FAULTS = (StoreError, sqlite3.Error)


async def keep_store(
    store: Store,
    *,
    max_bytes: int,
    retention_s: float,
    tick_s: float = 0.25,
    prune_every_s: float = 60.0,
    retry_s: float = 1.0,
) -> None:
    """Run forever: flush batched readings when due, keep the cap, prune history."""
    fault = Episode(log)
    next_cap = next_prune = t_mono()
    while True:
        try:
            if store.flush_due():
                store.flush()
            now = t_mono()
            if now >= next_cap:
                store.enforce_cap(max_bytes)
                next_cap = now + 1.0
            if now >= next_prune:
                store.prune(retention_s)
                next_prune = now + prune_every_s
        except STORE_FAULTS as err:
            fault.fault("buffer upkeep failed, retrying reason=%s", err)
            await asyncio.sleep(retry_s)
            continue
        fault.recovered("buffer upkeep works again")
        await asyncio.sleep(tick_s)
