"""Kernels take only plain typed arguments, so they can be compiled ahead of time later.

After warm-up (the engine's exact dtypes), every compiled signature of every
kernel must consist of C-contiguous float64/int64/int8 arrays and integer or
float scalars: no Python objects, lists, dicts or non-contiguous views.
"""

from __future__ import annotations

import pytest
from numba.core import types
from numba.core.config import DISABLE_JIT

from rules.pairs import PAIRS
from rules.warmup import warm_up

ALLOWED_DTYPES = {types.float64, types.int64, types.int8}
pytestmark = pytest.mark.skipif(bool(DISABLE_JIT), reason="NUMBA_DISABLE_JIT: nothing compiled")


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    warm_up()


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_kernel_signatures_are_plain_typed(name: str) -> None:
    kernel = PAIRS[name][0]
    assert kernel.signatures, f"{name} was never compiled by warm_up()"
    for sig in kernel.signatures:
        for arg in sig:
            if isinstance(arg, types.Array):
                assert arg.dtype in ALLOWED_DTYPES, (name, arg)
                assert arg.layout == "C", (name, arg)
            else:
                assert isinstance(arg, types.Integer | types.Float), (name, arg)


def test_one_signature_per_kernel_so_the_daemon_compiles_each_once() -> None:
    many = {n: len(PAIRS[n][0].signatures) for n in PAIRS if len(PAIRS[n][0].signatures) > 1}
    assert many == {}
