"""Backtest: replay recorded readings through the same engine and kernels as the daemon.

    result = run_backtest(["water"], Path("readings.csv"), points_csv=Path("points.csv"),
                          out=Path("alarms.csv"), plot=Path("alarms.png"))
    print(format_summary(result.summary))

Data is a CSV `ts,point,value[,quality]` (ts in epoch ms or ISO 8601, point
`device/point`, quality good|uncertain|bad or 1|0), a buffer.db (see
`read_buffer_db`) or a columnar .npz (see `read_npz`; `write_npz` converts).
Points come from a points.csv in the format of
shared/data/detection/*/points.csv (its `limits` JSON is merged into the
tags, so rules can use `rim_depth_m` and the like), from PointMeta objects the
caller builds (the gateway config), or, failing both, are inferred: quantity =
the point's own name (`pt-1/pressure` -> `pressure`), no unit, no range.
Samples are replayed in time order in batches, with `engine.tick` every
`tick_s` of data time so stale and composite-window rules behave as live. As
the decoder does live, a reading outside its point's range is bad quality
(only the `range` rule looks at it).
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from rules.engine import Engine
from rules.errors import RuleError
from rules.events import AlarmState, AlarmTransition, PointMeta
from rules.spec import RuleSet, load_rules

Progress = Callable[[int, int], None]  # (samples done, samples total)
OUT_COLUMNS = ("ts", "point", "rule", "kind", "level", "state", "value")


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


@dataclass
class RuleSummary:
    rule: str
    kind: str
    alarms: int = 0
    time_in_alarm_s: float = 0.0
    first_ts: int | None = None
    last_ts: int | None = None
    points: set[str] = field(default_factory=set)


@dataclass
class BacktestResult:
    transitions: list[AlarmTransition]
    summary: list[RuleSummary]
    samples: int
    skipped: int  # samples of points the points list does not know
    readings: Readings


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


def _good(raw: str | None) -> int:
    if raw is None or raw.strip() == "":
        return 1
    q = raw.strip().lower()
    return 0 if q in ("bad", "0", "false") else 1


def _build(rows: Iterable[tuple[int, str, float, int]]) -> Readings:
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
    order = np.argsort(r.ts_ms, kind="stable")
    r.point_idx, r.ts_ms, r.value, r.good = (
        r.point_idx[order], r.ts_ms[order], r.value[order], r.good[order]
    )  # fmt: skip
    return r


def _csv_row(row: dict[str, str | None]) -> tuple[int, str, float, int]:
    """One csv.DictReader row -> (ts_ms, key, value, good); ValueError/AttributeError if bad."""
    raw = (row["value"] or "").strip()
    value = float(raw) if raw else float("nan")
    return parse_ts(row["ts"]), row["point"].strip(), value, _good(row.get("quality"))  # type: ignore[union-attr,arg-type]


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
    return _build(rows)


def read_csv(path: Path) -> Readings:
    """A readings CSV: `ts,point,value[,quality]`; a bad row raises RuleError naming its line.

    The numba scanner (rules.csvscan) reads the plain lines; the lines it leaves (ISO
    timestamps, odd numbers, short rows) go through the csv module one by one, and
    a file it cannot take (quotes, other columns, a bad row) goes to read_csv_careful
    whole. The result is the same as read_csv_careful's, bit for bit.
    """
    fast = _read_csv_fast(path)
    return fast if fast is not None else read_csv_careful(path)


def _read_csv_fast(path: Path) -> Readings | None:
    from rules import csvscan

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
        order = np.argsort(r.ts_ms, kind="stable")
        r.point_idx, r.ts_ms, r.value, r.good = (
            r.point_idx[order], r.ts_ms[order], r.value[order], r.good[order]
        )  # fmt: skip
    return r


def read_buffer_db(path: Path) -> Readings:
    """Readings from the store's buffer.db: table `readings` with ts (ms), device, point,
    value, quality columns (`ts_ms` is accepted for `ts`)."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as err:
        raise RuleError([(str(path), "", f"cannot open database: {err}")]) from err
    try:
        cols = {r[1] for r in con.execute("PRAGMA table_info(readings)")}
        if not cols:
            raise RuleError([(str(path), "", "no `readings` table")])
        ts = "ts_ms" if "ts_ms" in cols else "ts"
        q = "quality" if "quality" in cols else "'good'"
        cur = con.execute(f"SELECT {ts}, device, point, value, {q} FROM readings ORDER BY {ts}")
        rows = (
            (int(t), f"{d}/{p}", float("nan") if v is None else float(v), _good(str(qq)))
            for t, d, p, v, qq in cur
        )
        return _build(rows)
    except sqlite3.Error as err:
        raise RuleError([(str(path), "", f"cannot read readings: {err}")]) from err
    finally:
        con.close()


def write_npz(readings: Readings, path: Path) -> None:
    """Readings as columns in an uncompressed .npz, which read_npz loads at disk speed."""
    np.savez(
        path, keys=np.array(readings.keys, dtype=str), point_idx=readings.point_idx,
        ts_ms=readings.ts_ms, value=readings.value, good=readings.good,
    )  # fmt: skip


def read_npz(path: Path) -> Readings:
    """Columns `keys` (str), `point_idx`, `ts_ms` (int64), `value` (float64), `good` (int8;
    optional, all good) of equal length, as write_npz writes them; sorted here if need be."""
    try:
        with np.load(path, allow_pickle=False) as z:
            ts = np.asarray(z["ts_ms"], dtype=np.int64)
            r = Readings(
                [str(k) for k in z["keys"]],
                np.asarray(z["point_idx"], dtype=np.int64), ts,
                np.asarray(z["value"], dtype=np.float64),
                np.asarray(z["good"], dtype=np.int8) if "good" in z else np.ones(len(ts), np.int8),
            )  # fmt: skip
    except (OSError, KeyError, ValueError) as err:
        raise RuleError([(str(path), "", f"cannot read columns: {err}")]) from err
    n = len(ts)
    if not (len(r.point_idx) == len(r.value) == len(r.good) == n):
        raise RuleError([(str(path), "", "columns of different lengths")])
    if n and (r.point_idx.min() < 0 or r.point_idx.max() >= len(r.keys)):
        raise RuleError([(str(path), "", "point_idx outside keys")])
    if np.any(np.diff(ts) < 0):
        order = np.argsort(ts, kind="stable")
        r.point_idx, r.ts_ms, r.value, r.good = (
            r.point_idx[order], ts[order], r.value[order], r.good[order]
        )  # fmt: skip
    return r


def read_data(path: Path) -> Readings:
    if path.suffix.lower() in (".db", ".sqlite", ".sqlite3"):
        return read_buffer_db(path)
    if path.suffix.lower() == ".npz":
        return read_npz(path)
    return read_csv(path)


def load_points_csv(path: Path) -> list[PointMeta]:
    """Points from a points.csv (shared/data/detection format); `limits` JSON joins the tags."""
    out: list[PointMeta] = []
    with path.open(newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            try:
                device, point = row["point"].strip().split("/", 1)
                tags = {k: str(v) for k, v in json.loads(row.get("tags") or "{}").items()}
                limits = json.loads(row.get("limits") or "{}")
                tags.update({k: str(v) for k, v in limits.items()})
                lo, hi = (row.get("range_lo") or "").strip(), (row.get("range_hi") or "").strip()
                out.append(PointMeta(
                    device, point, (row.get("quantity") or point).strip(),
                    (row.get("unit") or "").strip(),
                    float(lo) if lo else float("-inf"), float(hi) if hi else float("inf"), tags,
                ))  # fmt: skip
            except (ValueError, KeyError, AttributeError) as err:
                raise RuleError([(str(path), f"line {line}", f"bad point row: {err}")]) from err
    return out


def infer_points(keys: Sequence[str]) -> list[PointMeta]:
    """Points known only by name: quantity = the point's own name."""
    out = []
    for key in keys:
        device, _, point = key.partition("/")
        out.append(PointMeta(device, point, point, ""))
    return out


def backtest(
    ruleset: RuleSet,
    points: Sequence[PointMeta],
    data: Readings,
    mode: str = "normal",
    tick_s: float = 10.0,
    batch: int = 65_536,
    progress: Progress | None = None,
) -> BacktestResult:
    """Replay `data` through a fresh engine; transitions in time order, and a summary."""
    engine = Engine(ruleset, points, mode, tick_every_ms=0)  # ticks are explicit here
    # map the data's point keys to engine indices (-1: unknown point, skipped)
    remap = np.array([engine.find(k) for k in data.keys], dtype=np.int64)
    pidx = remap[data.point_idx] if len(data) else np.empty(0, dtype=np.int64)
    keep = pidx >= 0
    skipped = int((~keep).sum())
    pidx, ts, val, good = pidx[keep], data.ts_ms[keep], data.value[keep], data.good[keep].copy()
    # as the decoder does live: a reading outside the sensor's range is bad quality
    lo = np.array([p.range_lo for p in engine.points])[pidx]
    hi = np.array([p.range_hi for p in engine.points])[pidx]
    good[(val < lo) | (val > hi)] = 0
    n = int(ts.shape[0])
    out: list[AlarmTransition] = []
    tick_ms = max(1, round(tick_s * 1000))
    needs_tick = "stale" in engine.tables or engine.composite.n > 0
    if n:
        out += engine.tick(int(ts[0]))
    i = 0
    while i < n:
        j = min(i + batch, n)
        if needs_tick:  # cut the batch at the next tick boundary
            next_tick = (int(ts[i]) // tick_ms + 1) * tick_ms
            j = i + int(np.searchsorted(ts[i:j], next_tick, side="left"))
            j = max(j, i + 1)
        out += engine.process_batch(pidx[i:j], ts[i:j], val[i:j], good[i:j])
        if needs_tick and j < n:
            t_next = int(ts[j])
            t = (int(ts[j - 1]) // tick_ms + 1) * tick_ms
            while t <= t_next:  # every tick the data's time passes, gaps included
                out += engine.tick(t)
                t += tick_ms if t_next - t < 1000 * tick_ms else max(tick_ms, (t_next - t) // 2)
        if progress is not None:
            progress(j, n)
        i = j
    end = int(ts[-1]) if n else 0
    return BacktestResult(out, summarize(out, end), n, skipped, data)


def summarize(transitions: Sequence[AlarmTransition], end_ts: int) -> list[RuleSummary]:
    """Per rule: alarms raised, time in alarm (open alarms count to end_ts), first and last."""
    by_rule: dict[str, RuleSummary] = {}
    open_since: dict[str, int] = {}
    for t in transitions:
        s = by_rule.setdefault(t.rule, RuleSummary(t.rule, t.kind))
        if t.state is AlarmState.RAISED:
            s.alarms += 1
            s.first_ts = t.ts_ms if s.first_ts is None else s.first_ts
            s.last_ts = t.ts_ms
            s.points.add(f"{t.device}/{t.point}")
            open_since[t.alarm_id] = t.ts_ms
        elif t.state is AlarmState.CLEARED and t.alarm_id in open_since:
            s.time_in_alarm_s += (t.ts_ms - open_since.pop(t.alarm_id)) / 1000.0
    for t in transitions:
        if t.alarm_id in open_since and t.state is AlarmState.RAISED:
            by_rule[t.rule].time_in_alarm_s += (end_ts - open_since.pop(t.alarm_id)) / 1000.0
    return sorted(by_rule.values(), key=lambda s: s.rule)


def write_alarms_csv(transitions: Iterable[AlarmTransition], path: Path) -> None:
    """`ts,point,rule,kind,level,state,value`: the format score_detection.py reads."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(OUT_COLUMNS)
        for t in transitions:
            w.writerow((t.ts_ms, f"{t.device}/{t.point}", t.rule, t.kind, t.level,
                        str(t.state), "" if t.value != t.value else repr(t.value)))  # fmt: skip


def format_summary(summary: Sequence[RuleSummary]) -> str:
    """A plain table: rule, kind, alarms, time in alarm, first and last raise (UTC)."""

    def iso(ts: int | None) -> str:
        if ts is None:
            return "-"
        return datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    rows = [("rule", "kind", "alarms", "in alarm", "first", "last")]
    for s in summary:
        rows.append((s.rule, s.kind, str(s.alarms), f"{s.time_in_alarm_s / 60:.1f} min",
                     iso(s.first_ts), iso(s.last_ts)))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def run_backtest(
    rule_refs: Sequence[str | Path],
    data_path: Path,
    *,
    base_dir: Path | None = None,
    points: Sequence[PointMeta] | None = None,
    points_csv: Path | None = None,
    out: Path | None = None,
    plot: Path | None = None,
    mode: str = "normal",
    tick_s: float = 10.0,
    progress: Progress | None = None,
) -> BacktestResult:
    """What `edge-agent rules backtest` does: load, replay, write `out` and `plot` if given."""
    ruleset = load_rules(rule_refs, base_dir or Path.cwd())
    data = read_data(data_path)
    if points is None:
        points = load_points_csv(points_csv) if points_csv else infer_points(data.keys)
    result = backtest(ruleset, points, data, mode=mode, tick_s=tick_s, progress=progress)
    if out is not None:
        write_alarms_csv(result.transitions, out)
    if plot is not None:
        from rules.plot import plot_backtest

        plot_backtest(result, plot)
    return result
