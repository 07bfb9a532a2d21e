"""The replayable samples as columns (`Readings`), and how rows or a caller's columns
become them: every input format ends here, sorted by time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass
class Readings:
    """Columns of replayable samples, sorted by time; `keys[point_idx[i]]` names sample i."""

    keys: list[str]
    point_idx: np.ndarray  # int64
    ts_ms: np.ndarray  # int64
    value: np.ndarray  # float64
    good: np.ndarray  # int8

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])

    def sort_by_time(self) -> None:
        """Put the samples in time order, keeping the order of equal times (stable)."""
        order = np.argsort(self.ts_ms, kind="stable")
        self.point_idx, self.ts_ms, self.value, self.good = (
            self.point_idx[order], self.ts_ms[order], self.value[order], self.good[order]
        )  # fmt: skip


def quality_good(raw: str | None) -> int:
    """A quality word as the good flag: bad, 0 or false (any case) is 0; else (empty too) 1."""
    if raw is None or raw.strip() == "":
        return 1
    q = raw.strip().lower()
    return 0 if q in ("bad", "0", "false") else 1


def readings_from_rows(rows: Iterable[tuple[int, str, float, int]]) -> Readings:
    """Rows of (ts_ms, "device/point", value, good) in any order; keys in order of first row."""
    keys: dict[str, int] = {}
    pi, ts, val, good = [], [], [], []
    for t, key, v, g in rows:
        pi.append(keys.setdefault(key, len(keys)))
        ts.append(t)
        val.append(v)
        good.append(g)
    r = Readings(
        list(keys),
        np.array(pi, dtype=np.int64),
        np.array(ts, dtype=np.int64),
        np.array(val, dtype=np.float64),
        np.array(good, dtype=np.int8),
    )
    r.sort_by_time()
    return r


def readings_from_columns(
    keys: Sequence[str],
    point_idx: ArrayLike,
    ts_ms: ArrayLike,
    value: ArrayLike,
    quality: Sequence[str] | None = None,
) -> Readings:
    """Readings from columns a caller read (edge_agent.store.query reads buffer.db):
    `keys[point_idx[i]]` names sample i, NaN is a missing value, `quality` holds each
    sample's quality word (None: all good). Sorted by time here if need be."""
    ts = np.asarray(ts_ms, dtype=np.int64)
    if quality is None:
        good = np.ones(len(ts), dtype=np.int8)
    else:
        flag = {q: quality_good(q) for q in set(quality)}  # a few distinct words
        good = np.fromiter((flag[q] for q in quality), dtype=np.int8, count=len(quality))
    r = Readings(
        list(keys),
        np.asarray(point_idx, dtype=np.int64),
        ts,
        np.asarray(value, dtype=np.float64),
        good,
    )
    if not (len(r.point_idx) == len(r.value) == len(r.good) == len(ts)):
        raise ValueError("readings columns of different lengths")
    if len(ts) and (r.point_idx.min() < 0 or r.point_idx.max() >= len(r.keys)):
        raise ValueError("readings point_idx outside keys")
    if np.any(np.diff(ts) < 0):
        r.sort_by_time()
    return r
