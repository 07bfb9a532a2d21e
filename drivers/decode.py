"""Pure decoding: register words -> a point's value and quality, and the inverse.

Byte orders follow the Modbus convention: a 32-bit value's bytes are A B C D from the
most significant, and the name lists them in the order they arrive on the wire.

    ABCD  big-endian words, high word first        (registers AB, CD)
    CDAB  word swap: low word first                (registers CD, AB)
    BADC  byte swap inside each word               (registers BA, DC)
    DCBA  all bytes reversed (little-endian)       (registers DC, BA)

64-bit values extend the same two switches (word order, byte order inside a word) to
four registers. 16-bit values only have a byte order: AB (also ABCD, CDAB) or BA (also
DCBA, BADC). No pymodbus converters: the arithmetic is here, tested against hand-made
register values.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from drivers.base import BIT_TABLES, Quality
from drivers.profiles import WORDS, PointSpec

NAN = float("nan")

_BYTE_SWAP = frozenset({"BA", "BADC", "DCBA"})
_WORD_SWAP = frozenset({"CDAB", "DCBA"})
_INT_BITS = {"int16": 16, "uint16": 16, "int32": 32, "uint32": 32, "int64": 64}
_SIGNED = frozenset({"int16", "int32", "int64"})

# Outside the range by less than this share of the span: "uncertain" rather than "bad"
# (sensor noise around zero, a transmitter that reads 1.6001 at full scale).
RANGE_TOLERANCE = 0.01

Decoded = tuple[float, Quality, str | None]


def _reorder(data: bytes, byte_order: str) -> bytes:
    """Wire bytes <-> big-endian value bytes. Its own inverse: both swaps are involutions."""
    if byte_order in _BYTE_SWAP:
        data = b"".join(data[i + 1 : i + 2] + data[i : i + 1] for i in range(0, len(data), 2))
    if byte_order in _WORD_SWAP and len(data) > 2:
        data = b"".join(data[i : i + 2] for i in range(len(data) - 2, -1, -2))
    return data


def words_to_bytes(words: Sequence[int]) -> bytes:
    return b"".join((w & 0xFFFF).to_bytes(2, "big") for w in words)


def bytes_to_words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def raw_value(type_: str, byte_order: str, words: Sequence[int]) -> float:
    """The number a type and byte order make of `words` (before scale and offset)."""
    data = _reorder(words_to_bytes(words), byte_order)
    if type_ == "float32":
        return float(struct.unpack(">f", data)[0])
    if type_ == "float64":
        return float(struct.unpack(">d", data)[0])
    return float(int.from_bytes(data, "big", signed=type_ in _SIGNED))


def _range_quality(spec: PointSpec, value: float) -> Decoded:
    if spec.range is None:
        return value, "good", None
    lo, hi = spec.range
    # float32 cannot hold 1.6 exactly (it reads 1.6000000238): allow for that rounding.
    eps = max(abs(lo), abs(hi)) * 1e-6
    if lo - eps <= value <= hi + eps:
        return value, "good", None
    margin = (hi - lo) * RANGE_TOLERANCE
    if lo - margin <= value <= hi + margin:
        return value, "uncertain", "slightly out of range"
    return value, "bad", "out of range"


MAX_DECIMALS = 6


def _decimals_ok(decimals: float | None) -> bool:
    return decimals is not None and decimals == int(decimals) and 0 <= decimals <= MAX_DECIMALS


def decode_point(
    spec: PointSpec, words: Sequence[int], *, decimals: float | None = None
) -> Decoded:
    """Registers (or bits) of one point -> (value, quality, reason). Never raises.

    Out of the sensor's range keeps the value with quality "bad" (the CLI and the
    out-of-range rule want to see it); NaN, infinities and sentinels become NaN.
    `decimals` is the value of the point named by `spec.decimals_from`, if any.
    """
    if len(words) != spec.words:
        return NAN, "bad", f"decode error: expected {spec.words} words, got {len(words)}"
    if spec.table in BIT_TABLES:
        return (1.0 if words[0] else 0.0), "good", None
    if spec.bit is not None:
        (word,) = bytes_to_words(_reorder(words_to_bytes(words), spec.byte_order))
        return float((word >> spec.bit) & 1), "good", None
    raw = raw_value(spec.type, spec.byte_order, words)
    if math.isnan(raw):
        return NAN, "bad", "decode error: NaN"
    if math.isinf(raw):
        return NAN, "bad", "decode error: infinity"
    if raw in spec.sentinels:
        return NAN, "bad", f"no value (sentinel {raw:g})"
    if spec.decimals_from is not None:
        if not _decimals_ok(decimals):
            return NAN, "bad", f"decode error: decimals {decimals} from {spec.decimals_from}"
        raw = raw / 10 ** int(decimals or 0)
    value = raw * spec.scale + spec.offset
    if not math.isfinite(value):
        return NAN, "bad", "decode error: overflow after scale"
    return _range_quality(spec, value)


def decode_text(spec: PointSpec, text: str | None) -> Decoded:
    """A field of an ASCII line -> (value, quality, reason), for serial-line sensors."""
    if text is None:
        return NAN, "bad", f"decode error: no field {spec.field}"
    try:
        raw = float(text.strip())
    except ValueError:
        return NAN, "bad", f"decode error: {text.strip()[:16]!r} is not a number"
    if not math.isfinite(raw):
        return NAN, "bad", "decode error: not finite"
    if raw in spec.sentinels:
        return NAN, "bad", f"no value (sentinel {raw:g})"
    return _range_quality(spec, raw * spec.scale + spec.offset)


def encode_point(spec: PointSpec, value: float, *, decimals: float | None = None) -> list[int]:
    """The registers (or bits) a device sends for `value`: the inverse of decode_point.

    For a `bit` point only that bit is set in the returned register; merge it with the
    register's other bits yourself. Raises ValueError when the value does not fit.
    """
    if spec.table in BIT_TABLES:
        return [1 if value else 0]
    if spec.bit is not None:
        word = (1 << spec.bit) if value else 0
        return bytes_to_words(_reorder(word.to_bytes(2, "big"), spec.byte_order))
    raw = (value - spec.offset) / spec.scale
    if spec.decimals_from is not None:
        if not _decimals_ok(decimals):
            raise ValueError(f"{spec.name}: needs decimals 0..{MAX_DECIMALS}, got {decimals}")
        raw = raw * 10 ** int(decimals or 0)
    if spec.type == "float32":
        data = struct.pack(">f", raw)
    elif spec.type == "float64":
        data = struct.pack(">d", raw)
    else:
        if not math.isfinite(raw):
            raise ValueError(f"{spec.name}: {value} has no {spec.type} form")
        bits = _INT_BITS[spec.type]
        n = round(raw)
        signed = spec.type in _SIGNED
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        if not lo <= n <= hi:
            raise ValueError(
                f"{spec.name}: {value} is raw {n} after scale and offset, "
                f"outside {spec.type} {lo}..{hi}"
            )
        data = n.to_bytes(bits // 8, "big", signed=spec.type in _SIGNED)
    return bytes_to_words(_reorder(data, spec.byte_order))


def interpretations(words: Sequence[int]) -> dict[str, float]:
    """Every type and byte order that fits `words`, for byte-order diagnostics in the CLI.

    Keys look like "float32 CDAB" and read the words from the first one.
    """
    out: dict[str, float] = {}
    for type_, width in WORDS.items():
        if type_ == "bool" or width > len(words):
            continue
        orders = ("AB", "BA") if width == 1 else ("ABCD", "CDAB", "BADC", "DCBA")
        for order in orders:
            out[f"{type_} {order}"] = raw_value(type_, order, words[:width])
    return out
