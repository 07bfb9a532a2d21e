"""Pure parts of a write: what is refused before a frame is sent, and what is encoded."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from drivers.decode import decode_point
from drivers.profiles import PointSpec
from drivers.write import WriteRefusedError, encode_write, refusal


def spec(**kw: object) -> PointSpec:
    base: dict[str, object] = {"name": "p", "quantity": "command", "address": 0}
    return PointSpec.model_validate(base | kw)


def test_not_writable_and_out_of_range_are_refused() -> None:
    assert "not writable" in (refusal(spec(), 1) or "")
    sp = spec(writable=True, write_range=[0, 50], scale=0.01)
    assert refusal(sp, 50) is None
    assert "outside write_range [0, 50]" in (refusal(sp, 50.5) or "")
    assert "not a value" in (refusal(sp, float("nan")) or "")


def test_a_value_that_does_not_fit_its_type_is_refused() -> None:
    sp = spec(writable=True, type="int16", scale=0.1)
    with pytest.raises(WriteRefusedError, match="outside int16"):
        encode_write(sp, 4000)


@pytest.mark.parametrize("order", ["ABCD", "CDAB", "BADC", "DCBA"])
def test_encode_write_is_the_inverse_of_a_read(order: str) -> None:
    sp = spec(writable=True, type="int32", byte_order=order, scale=0.5, offset=10)
    words = encode_write(sp, -1234.5)
    assert decode_point(sp, words)[0] == -1234.5


def test_profile_refuses_writes_it_cannot_make() -> None:
    with pytest.raises(ValidationError, match="cannot be written"):
        spec(table="input", writable=True)
    with pytest.raises(ValidationError, match="write_range is for writable points"):
        spec(write_range=[0, 1])
    with pytest.raises(ValidationError, match="low <= high"):
        spec(writable=True, write_range=[2, 1])
