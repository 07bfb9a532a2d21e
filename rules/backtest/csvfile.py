"""Readings CSV `ts,point,value[,quality]`: the numba scanner's fast path (csvscan) and
the csv module's careful reader, which give the same result bit for bit.

ts is epoch ms or ISO 8601 (naive means UTC), point is `device/point`, quality is
good|uncertain|bad or 1|0 (empty: good). A bad row raises RuleError naming its line.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from rules.backtest import csvscan
from rules.backtest.readings import Readings, quality_good, readings_from_rows
from rules.errors import RuleError


def parse_ts(raw: str) -> int:
    """Epoch milliseconds, or ISO 8601 (naive means UTC) -> epoch ms."""
    raw = raw.strip()
    try:
        return int(float(raw))
    except ValueError:
        pass
    dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _csv_row(row: dict[str, str | None]) -> tuple[int, str, float, int]:
    """One csv.DictReader row -> (ts_ms, key, value, good); ValueError/AttributeError if bad."""
    raw = (row["value"] or "").strip()
    value = float(raw) if raw else float("nan")
    return parse_ts(row["ts"]), row["point"].strip(), value, quality_good(row.get("quality"))  # type: ignore[union-attr,arg-type]


def read_csv_careful(path: Path) -> Readings:
    """A readings CSV through the csv module, row by row: the reference for read_csv."""
    rows: list[tuple[int, str, float, int]] = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"ts", "point", "value"} - set(reader.fieldnames or ())
        if missing:
            raise RuleError([(str(path), "", f"missing columns {sorted(missing)}; "
                              "expected ts,point,value[,quality]")])  # fmt: skip
        for line, row in enumerate(reader, start=2):
            try:
                rows.append(_csv_row(row))
            except (ValueError, AttributeError) as err:
                raise RuleError([(str(path), f"line {line}", f"cannot read row: {err}")]) from err
    return readings_from_rows(rows)


def read_csv(path: Path) -> Readings:
    """A readings CSV: `ts,point,value[,quality]`; a bad row raises RuleError naming its line.

    The numba scanner (csvscan) reads the plain lines; the lines it leaves (ISO
    timestamps, odd numbers, short rows) go through the csv module one by one, and
    a file it cannot take (quotes, other columns, a bad row) goes to read_csv_careful
    whole. The result is the same as read_csv_careful's, bit for bit.
    """
    fast = read_csv_fast(path)
    return fast if fast is not None else read_csv_careful(path)


def read_csv_fast(path: Path) -> Readings | None:
    """The scanner's reading of a readings CSV, or None for a file read_csv_careful must read."""
    size = path.stat().st_size
    if size == 0:
        return None
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    usable, n_lf = csvscan.check(buf)
    nl = int(np.argmax(buf[: min(size, 65536)] == 10)) if usable else 0
    if not usable or buf[nl] != 10:
        return None
    try:
        header = bytes(buf[:nl]).decode("utf-8").removesuffix("\r").split(",")
    except UnicodeDecodeError:
        return None
    known = ("ts", "point", "value", "quality")
    names = set(header)
    if len(names) != len(header) or not {"ts", "point", "value"} <= names <= set(known):
        return None
    col = {name: header.index(name) if name in header else -1 for name in known}
    n = n_lf + 1  # lines after the header, the last one maybe without LF
    status = np.empty(n, np.int8)
    max_slow = max(1000, n // 100)  # mostly odd lines (ISO timestamps): the careful reader
    slow_row, start, end = (np.empty(max_slow, np.int64) for _ in range(3))
    ts, value = np.empty(n, np.int64), np.empty(n, np.float64)
    good, key = np.empty(n, np.int8), np.empty(n, np.int64)
    max_keys = min(n, 1 << 20)
    key_start, key_end = np.empty(max_keys, np.int64), np.empty(max_keys, np.int64)
    key_row = np.empty(max_keys, np.int64)
    slots = 1 << (2 * max_keys - 1).bit_length()
    tab_h, tab_k = np.zeros(slots, np.uint64), np.full(slots, -1, np.int64)
    rows, n_keys = csvscan.scan(
        buf, nl + 1, len(header), col["ts"], col["point"], col["value"], col["quality"],
        csvscan.POW10, status, slow_row, start, end, ts, value, good, key,
        key_start, key_end, key_row, tab_h, tab_k,
    )  # fmt: skip
    if n_keys < 0:
        return None
    status = status[:rows]
    try:
        keys = [bytes(buf[key_start[k] : key_end[k]]).decode("utf-8") for k in range(n_keys)]
        first = list(key_row[:n_keys])
        n_slow = int(np.count_nonzero(status == 1))
        index = {k: i for i, k in enumerate(keys)}
        for j in range(n_slow):
            i = int(slow_row[j])
            (fields,) = csv.reader([bytes(buf[start[j] : end[j]]).decode("utf-8")])
            row: dict[str, str | None] = dict.fromkeys(header)
            row.update(zip(header, fields, strict=False))
            t, k, v, g = _csv_row(row)
            if k not in index:
                index[k] = len(keys)
                keys.append(k)
                first.append(i)
            first[index[k]] = min(first[index[k]], i)
            ts[i], value[i], good[i], key[i] = t, v, g, index[k]
    except (ValueError, AttributeError, UnicodeDecodeError, csv.Error):
        return None  # the careful reader says which line, and why
    cols = (key[:rows], ts[:rows], value[:rows], good[:rows])
    if np.any(status == 2):  # empty lines
        keep = status != 2
        cols = tuple(c[keep] for c in cols)
    r = Readings(keys, *cols)
    if n_slow:  # a slow line may have named a key first: keys in order of first row
        order = np.argsort(np.array(first, dtype=np.int64), kind="stable")
        rank = np.empty(len(order), np.int64)
        rank[order] = np.arange(len(order))
        r.keys = [keys[i] for i in order]
        r.point_idx = rank[r.point_idx]
    if not csvscan.is_sorted(r.ts_ms):
        r.sort_by_time()
    return r
