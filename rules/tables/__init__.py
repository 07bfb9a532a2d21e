"""Per-kind tables (parameter and state columns) and the registry the engine builds from."""

from __future__ import annotations

from rules.tables.base import KindTable
from rules.tables.baseline import BaselineTable
from rules.tables.composite import CompositeTable
from rules.tables.health import DriftTable, FlatlineTable, RangeTable, SpikeTable, StaleTable
from rules.tables.process import (
    AccumulationTable,
    NightFlowTable,
    RateTable,
    ThresholdTable,
    TrendTable,
)

SAMPLE_TABLES: dict[str, type[KindTable]] = {
    t.kind: t
    for t in (
        ThresholdTable, RateTable, TrendTable, AccumulationTable, FlatlineTable, RangeTable,
        SpikeTable, DriftTable, StaleTable, NightFlowTable, BaselineTable,
    )
}  # fmt: skip
TABLES: dict[str, type[KindTable]] = {**SAMPLE_TABLES, "composite": CompositeTable}

__all__ = ["SAMPLE_TABLES", "TABLES", "CompositeTable", "KindTable"]
