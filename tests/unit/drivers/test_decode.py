"""Decoding every type in every byte order against registers computed by hand."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.decode import decode_point, encode_point, interpretations
from drivers.profiles import PointSpec


def spec(**kw: Any) -> PointSpec:
    base: dict[str, Any] = {"name": "p", "quantity": "pressure", "address": 0}
    return PointSpec.model_validate(base | kw)


# (type, byte order, registers as they arrive, expected value). The registers were
# written out by hand from the value's big-endian bytes, then reordered per the name.
CASES = [
    # int16 -2 = FF FE; uint16 4660 = 12 34
    ("int16", "AB", [0xFFFE], -2),
    ("int16", "BA", [0xFEFF], -2),
    ("int16", "ABCD", [0xFFFE], -2),
    ("int16", "CDAB", [0xFFFE], -2),
    ("int16", "BADC", [0xFEFF], -2),
    ("int16", "DCBA", [0xFEFF], -2),
    ("uint16", "AB", [0x1234], 4660),
    ("uint16", "BA", [0x3412], 4660),
    ("uint16", "AB", [0xFFFF], 65535),
    # int32 -123456789 = F8 A4 32 EB
    ("int32", "ABCD", [0xF8A4, 0x32EB], -123456789),
    ("int32", "CDAB", [0x32EB, 0xF8A4], -123456789),
    ("int32", "BADC", [0xA4F8, 0xEB32], -123456789),
    ("int32", "DCBA", [0xEB32, 0xA4F8], -123456789),
    # uint32 305419896 = 12 34 56 78
    ("uint32", "ABCD", [0x1234, 0x5678], 305419896),
    ("uint32", "CDAB", [0x5678, 0x1234], 305419896),
    ("uint32", "BADC", [0x3412, 0x7856], 305419896),
    ("uint32", "DCBA", [0x7856, 0x3412], 305419896),
    ("uint32", "ABCD", [0xFFFF, 0xFFFF], 4294967295),
    # float32 1.0 = 3F 80 00 00; -2.5 = C0 20 00 00
    ("float32", "ABCD", [0x3F80, 0x0000], 1.0),
    ("float32", "CDAB", [0x0000, 0x3F80], 1.0),
    ("float32", "BADC", [0x803F, 0x0000], 1.0),
    ("float32", "DCBA", [0x0000, 0x803F], 1.0),
    ("float32", "ABCD", [0xC020, 0x0000], -2.5),
    ("float32", "DCBA", [0x0000, 0x20C0], -2.5),
    # int64 283686952306183 = 00 01 02 03 04 05 06 07 (below 2**53: exact as a float)
    ("int64", "ABCD", [0x0001, 0x0203, 0x0405, 0x0607], 283686952306183),
    ("int64", "CDAB", [0x0607, 0x0405, 0x0203, 0x0001], 283686952306183),
    ("int64", "BADC", [0x0100, 0x0302, 0x0504, 0x0706], 283686952306183),
    ("int64", "DCBA", [0x0706, 0x0504, 0x0302, 0x0100], 283686952306183),
    ("int64", "ABCD", [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE], -2),
    ("int64", "CDAB", [0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF], -2),
    # float64 1.5 = 3F F8 00 00 00 00 00 00; -0.1 = BF B9 99 99 99 99 99 9A
    ("float64", "ABCD", [0x3FF8, 0, 0, 0], 1.5),
    ("float64", "CDAB", [0, 0, 0, 0x3FF8], 1.5),
    ("float64", "BADC", [0xF83F, 0, 0, 0], 1.5),
    ("float64", "DCBA", [0, 0, 0, 0xF83F], 1.5),
    ("float64", "ABCD", [0xBFB9, 0x9999, 0x9999, 0x999A], -0.1),
    ("float64", "DCBA", [0x9A99, 0x9999, 0x9999, 0xB9BF], -0.1),
]


@pytest.mark.parametrize(("type_", "order", "words", "expected"), CASES)
def test_decodes_hand_computed_registers(
    type_: str, order: str, words: list[int], expected: float
) -> None:
    s = spec(type=type_, byte_order=order)
    value, quality, reason = decode_point(s, words)
    assert (value, quality, reason) == (expected, "good", None)


@pytest.mark.parametrize(("type_", "order", "words", "expected"), CASES)
def test_encode_is_the_inverse_of_decode(
    type_: str, order: str, words: list[int], expected: float
) -> None:
    assert encode_point(spec(type=type_, byte_order=order), expected) == words


def test_float32_examples_from_real_devices() -> None:
    # FMR20 radar: bytes 41 4C 69 FC = 12.776 (ABCD)
    v, q, _ = decode_point(spec(type="float32", byte_order="ABCD"), [0x414C, 0x69FC])
    assert q == "good"
    assert v == pytest.approx(12.776, abs=1e-3)
    # Xintai water meter: bytes 1E 85 0B 3F = 0.545 (DCBA)
    v, _, _ = decode_point(spec(type="float32", byte_order="DCBA"), [0x1E85, 0x0B3F])
    assert v == pytest.approx(0.545, abs=1e-6)
    # TUF-2000M: bytes 80 6B 42 12 = 36.625 degC, only as CDAB
    v, _, _ = decode_point(spec(type="float32", byte_order="CDAB"), [0x806B, 0x4212])
    assert v == pytest.approx(36.625, abs=1e-3)


@pytest.mark.parametrize(
    ("type_", "order", "words", "reason"),
    [
        ("float32", "ABCD", [0x7FC0, 0x0000], "decode error: NaN"),
        ("float32", "CDAB", [0x0000, 0x7FC0], "decode error: NaN"),
        ("float32", "ABCD", [0x7F80, 0x0000], "decode error: infinity"),
        ("float32", "DCBA", [0x0000, 0x80FF], "decode error: infinity"),  # -inf
        ("float64", "ABCD", [0x7FF8, 0, 0, 0], "decode error: NaN"),
        ("float64", "ABCD", [0xFFF0, 0, 0, 0], "decode error: infinity"),
        ("float64", "BADC", [0xF07F, 0, 0, 0], "decode error: infinity"),
    ],
)
def test_nan_and_infinities_are_bad(type_: str, order: str, words: list[int], reason: str) -> None:
    value, quality, got = decode_point(spec(type=type_, byte_order=order), words)
    assert math.isnan(value)
    assert (quality, got) == ("bad", reason)


def test_scale_and_offset_apply_after_the_type() -> None:
    s = spec(type="int16", scale=0.001, offset=-1.0)
    value, quality, _ = decode_point(s, [1234])
    assert quality == "good"
    assert value == pytest.approx(0.234)
    value, _, _ = decode_point(s, [0xFFFE])  # -2 raw
    assert value == pytest.approx(-1.002)
    assert encode_point(s, 0.234) == [1234]


def test_out_of_range_keeps_the_value_with_bad_quality() -> None:
    s = spec(type="float32", range=(0.0, 1.6))
    assert decode_point(s, encode_point(s, 2.0))[1:] == ("bad", "out of range")
    assert decode_point(s, encode_point(s, 2.0))[0] == pytest.approx(2.0)
    assert decode_point(s, encode_point(s, -0.5))[1:] == ("bad", "out of range")
    assert decode_point(s, encode_point(s, 1.6))[1:] == ("good", None)
    assert decode_point(s, encode_point(s, 0.0))[1:] == ("good", None)


def test_just_outside_range_is_uncertain() -> None:
    s = spec(type="int16", scale=0.001, range=(0.0, 10.0))
    # -3 mm: sensor noise at an empty manhole, within 1 % of the 10 m span
    assert decode_point(s, [0xFFFD])[1:] == ("uncertain", "slightly out of range")


def test_sentinel_is_no_value() -> None:
    s = spec(type="float32", byte_order="DCBA", sentinels=[-9999.0])
    value, quality, reason = decode_point(s, encode_point(s, -9999.0))
    assert math.isnan(value)
    assert (quality, reason) == ("bad", "no value (sentinel -9999)")


@pytest.mark.parametrize(
    ("word", "bit", "order", "expected"),
    [
        (0x0008, 3, "AB", 1.0),
        (0xFFF7, 3, "AB", 0.0),
        (0x8000, 15, "AB", 1.0),
        (0x0800, 3, "BA", 1.0),  # bytes swapped: bit 3 sits in the second byte
        (0x0001, 0, "AB", 1.0),
    ],
)
def test_bit_of_a_register(word: int, bit: int, order: str, expected: float) -> None:
    s = spec(type="bool", bit=bit, byte_order=order)
    assert decode_point(s, [word]) == (expected, "good", None)
    if expected:
        assert encode_point(s, 1.0) == [word]


def test_coils_and_discrete_inputs_are_bits() -> None:
    for table in ("coil", "discrete"):
        s = spec(table=table, type="bool")
        assert decode_point(s, [1]) == (1.0, "good", None)
        assert decode_point(s, [0]) == (0.0, "good", None)
        assert encode_point(s, 1.0) == [1]


def test_wrong_word_count_is_a_decode_error() -> None:
    value, quality, reason = decode_point(spec(type="float32"), [0x3F80])
    assert math.isnan(value)
    assert quality == "bad"
    assert reason == "decode error: expected 2 words, got 1"


def test_encode_refuses_values_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="outside int16"):
        encode_point(spec(type="int16", scale=0.1), 5000.0)
    with pytest.raises(ValueError, match="outside uint16"):
        encode_point(spec(type="uint16"), -1.0)


def test_interpretations_show_every_order() -> None:
    got = interpretations([0x0000, 0x3F80])
    assert got["float32 CDAB"] == 1.0
    assert got["uint16 AB"] == 0
    assert got["uint32 ABCD"] == 0x3F80
    assert "float64 ABCD" not in got  # needs four registers


# --- property: encode then decode gives the value back, for every type and order ---

_INT_RANGES = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**53), 2**53),  # exact as floats
}
_ORDERS_32 = ["ABCD", "CDAB", "BADC", "DCBA"]


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[str, str, float]:
    type_ = draw(st.sampled_from([*_INT_RANGES, "float32", "float64"]))
    width16 = type_ in ("int16", "uint16")
    order = draw(st.sampled_from(["AB", "BA", *_ORDERS_32] if width16 else _ORDERS_32))
    if type_ in _INT_RANGES:
        lo, hi = _INT_RANGES[type_]
        return type_, order, float(draw(st.integers(lo, hi)))
    if type_ == "float32":
        return type_, order, draw(st.floats(width=32, allow_nan=False, allow_infinity=False))
    return type_, order, draw(st.floats(allow_nan=False, allow_infinity=False))


@given(typed_values())
def test_round_trip_every_type_and_order(case: tuple[str, str, float]) -> None:
    type_, order, value = case
    s = spec(type=type_, byte_order=order)
    words = encode_point(s, value)
    assert len(words) == s.words
    assert all(0 <= w <= 0xFFFF for w in words)
    assert decode_point(s, words) == (value, "good", None)
