"""numba scanner of a readings CSV held as bytes: the fast path of csvfile.read_csv.

It reads only what it can read exactly as the careful reader (Python's csv module,
`float`, `int(float(ts))`) would, and hands every other line back:

- ts and value: `[spaces][+|-]digits[.digits][spaces]` with at most 17 digits, a
  mantissa M <= 2**53 and k <= 22 digits after the point. Then M / 10**k is one
  correctly rounded IEEE division of two exact doubles, the same double as Python's
  `float()` (Clinger's fast path). ts is then truncated as `int()` does. An empty
  value is NaN. Anything else (ISO 8601 ts, exponents, `nan`, `1_000`) is slow.
- point: stripped of spaces and tabs; its first and last bytes must be printable
  ASCII (so Python's Unicode `strip()` could not strip more). Keys are interned
  by a 64-bit FNV-1a hash in an open-addressing table, every hit compared byte by
  byte with the key's first occurrence; a hash collision or a full table gives
  up on the whole file.
- quality: empty is good; ASCII only, compared case-insensitively to bad/0/false.
- a line with another number of fields than the header, a control byte other
  than a tab, or longer than 100,000 bytes is slow. An empty line is skipped, as
  csv.DictReader skips it.

`check` gives up on the whole file (returns False) for what would need the csv
module's state across lines: a double quote, a NUL, a CR not followed by LF.

Outputs per data line (line i of the file is row i - 1): `status` 0 read, 1 slow
(the caller parses it), 2 skipped (empty); ts_ms, value, good, key for read
lines: 26 bytes a row, with the slow lines' byte ranges listed apart.
"""

from __future__ import annotations

import numpy as np
from numba import njit

MAX_LINE = 100_000
POW10 = np.array([10.0**k for k in range(23)])


@njit(cache=True)
def check(buf: np.ndarray) -> tuple[bool, int]:
    """(usable, number of LF): False on a double quote, a NUL or a bare CR."""
    n_lf = 0
    n = buf.shape[0]
    for i in range(n):
        c = buf[i]
        if c == 10:
            n_lf += 1
        elif c == 34 or c == 0 or (c == 13 and (i + 1 >= n or buf[i + 1] != 10)):
            return False, n_lf
    return True, n_lf


@njit(cache=True)
def _decimal(buf: np.ndarray, a: int, b: int, pow10: np.ndarray) -> tuple[int, float]:
    """(1, x) read, (2, nan) empty, (0, nan) not for the fast path."""
    while a < b and (buf[a] == 32 or buf[a] == 9):
        a += 1
    while b > a and (buf[b - 1] == 32 or buf[b - 1] == 9):
        b -= 1
    if a == b:
        return 2, np.nan
    neg = False
    if buf[a] == 45:
        neg = True
        a += 1
    elif buf[a] == 43:
        a += 1
    m = 0
    nd = 0
    frac = 0
    dot = False
    for i in range(a, b):
        c = buf[i]
        if c >= 48 and c <= 57:
            if nd >= 17:
                return 0, np.nan
            m = m * 10 + (c - 48)
            nd += 1
            if dot:
                frac += 1
        elif c == 46 and not dot:
            dot = True
        else:
            return 0, np.nan
    if nd == 0 or m > 9007199254740992 or frac > 22:
        return 0, np.nan
    x = float(m) / pow10[frac]
    return 1, -x if neg else x


@njit(cache=True)
def _same(buf: np.ndarray, a: int, b: int, c: int, d: int) -> bool:
    if b - a != d - c:
        return False
    for k in range(b - a):  # noqa: SIM110 (numba has no all() over a generator)
        if buf[a + k] != buf[c + k]:
            return False
    return True


@njit(cache=True)
def scan(
    buf: np.ndarray,
    first: int,
    n_cols: int,
    i_ts: int,
    i_point: int,
    i_value: int,
    i_quality: int,
    pow10: np.ndarray,
    status: np.ndarray,
    slow_row: np.ndarray,
    slow_start: np.ndarray,
    slow_end: np.ndarray,
    ts_ms: np.ndarray,
    value: np.ndarray,
    good: np.ndarray,
    key: np.ndarray,
    key_start: np.ndarray,
    key_end: np.ndarray,
    key_row: np.ndarray,
    tab_h: np.ndarray,
    tab_k: np.ndarray,
) -> tuple[int, int]:
    """Scan lines from byte `first`; returns (rows, keys), keys < 0 to give up.

    Slow lines are listed in slow_row/slow_start/slow_end (row, byte range without
    CR LF); more of them than those arrays hold gives up (-2).

    key_start/key_end/key_row (a key's bytes and first row) need a slot per key. The
    keys' hash table is tab_h uint64 / tab_k int64 (-1: free), of a power-of-two size:
    open addressing, linear probing, given up when more than half full.
    """
    n = buf.shape[0]
    mask = np.uint64(tab_k.shape[0] - 1)
    n_keys = 0
    n_slow = 0
    row = 0
    pos = first
    fs = np.empty(n_cols + 1, np.int64)
    while pos < n:
        e = pos
        while e < n and buf[e] != 10:
            e += 1
        nxt = e + 1
        if e > pos and buf[e - 1] == 13:
            e -= 1
        if e == pos:
            status[row] = 2
            row += 1
            pos = nxt
            continue
        # split into fields; control bytes and long lines go the slow way
        nf = 0
        fs[0] = pos
        slow = e - pos > 100_000
        for k in range(pos, e):
            c = buf[k]
            if c == 44:
                nf += 1
                if nf >= n_cols:
                    slow = True
                    break
                fs[nf] = k + 1
            elif c < 32 and c != 9:
                slow = True
                break
        if slow or nf + 1 != n_cols:
            if n_slow == slow_row.shape[0]:
                return row, -2
            status[row] = 1
            slow_row[n_slow] = row
            slow_start[n_slow] = pos
            slow_end[n_slow] = e
            n_slow += 1
            row += 1
            pos = nxt
            continue
        fs[n_cols] = e + 1  # field j is [fs[j], fs[j + 1] - 1)
        ok_t, t = _decimal(buf, fs[i_ts], fs[i_ts + 1] - 1, pow10)
        ok_v, v = _decimal(buf, fs[i_value], fs[i_value + 1] - 1, pow10)
        g = 1
        ok_q = True
        if i_quality >= 0:
            a = fs[i_quality]
            b = fs[i_quality + 1] - 1
            while a < b and (buf[a] == 32 or buf[a] == 9):
                a += 1
            while b > a and (buf[b - 1] == 32 or buf[b - 1] == 9):
                b -= 1
            for k in range(a, b):
                if buf[k] >= 128:
                    ok_q = False
            if ok_q:
                ln = b - a
                lo = np.zeros(5, np.uint8)  # the field lower-cased, up to 5 bytes
                for k in range(min(ln, 5)):
                    lo[k] = buf[a + k] | 32
                zero = ln == 1 and buf[a] == 48
                bad = ln == 3 and lo[0] == 98 and lo[1] == 97 and lo[2] == 100
                false = ln == 5 and lo[0] == 102 and lo[1] == 97 and lo[2] == 108
                if zero or bad or (false and lo[3] == 115 and lo[4] == 101):
                    g = 0
        a = fs[i_point]
        b = fs[i_point + 1] - 1
        while a < b and (buf[a] == 32 or buf[a] == 9):
            a += 1
        while b > a and (buf[b - 1] == 32 or buf[b - 1] == 9):
            b -= 1
        ok_p = b > a and 33 <= buf[a] <= 126 and 33 <= buf[b - 1] <= 126
        if ok_t != 1 or ok_v == 0 or not ok_q or not ok_p:
            if n_slow == slow_row.shape[0]:
                return row, -2
            status[row] = 1
            slow_row[n_slow] = row
            slow_start[n_slow] = pos
            slow_end[n_slow] = e
            n_slow += 1
            row += 1
            pos = nxt
            continue
        h = np.uint64(14695981039346656037)
        for k in range(a, b):
            h = (h ^ np.uint64(buf[k])) * np.uint64(1099511628211)
        slot = h & mask
        while True:
            kid = tab_k[slot]
            if kid < 0:  # a new key
                if 2 * (n_keys + 1) > tab_k.shape[0]:
                    return row, -1
                kid = n_keys
                tab_k[slot] = kid
                tab_h[slot] = h
                key_start[kid] = a
                key_end[kid] = b
                key_row[kid] = row
                n_keys += 1
                break
            if tab_h[slot] == h:
                if not _same(buf, a, b, key_start[kid], key_end[kid]):
                    return row, -1
                break
            slot = (slot + np.uint64(1)) & mask
        status[row] = 0
        ts_ms[row] = np.int64(t)
        value[row] = v
        good[row] = g
        key[row] = kid
        row += 1
        pos = nxt
    return row, n_keys


@njit(cache=True)
def is_sorted(ts: np.ndarray) -> bool:
    for i in range(1, ts.shape[0]):  # noqa: SIM110 (numba has no all() over a generator)
        if ts[i] < ts[i - 1]:
            return False
    return True
