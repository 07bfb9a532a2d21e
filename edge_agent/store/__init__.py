"""Store-and-forward buffer: readings, alarms and the outbox in one SQLite file."""

from edge_agent.store.errors import StoreError
from edge_agent.store.opening import Recovery
from edge_agent.store.outbox import OutboxRow, ReadingsCodec
from edge_agent.store.store import Store

__all__ = ["OutboxRow", "ReadingsCodec", "Recovery", "Store", "StoreError"]
