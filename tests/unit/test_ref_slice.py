"""Slice's reference and shape inference against onnxruntime: random shapes, starts, ends (beyond the bounds
too), axes and steps of either sign."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymace.ops import slice as slice_op
from pymace.ops.base import TensorInfo
from tests.helpers import ort_run


def check(x, starts, ends, axes=None, steps=None):
    extra = [np.array(v, np.int64) if v is not None else None for v in (axes, steps)]
    onnx_inputs = [x, np.array(starts, np.int64), np.array(ends, np.int64)] + extra
    while onnx_inputs[-1] is None:
        onnx_inputs.pop()
    (want,) = ort_run("Slice", onnx_inputs, {})
    (got,) = slice_op.reference(x, starts=starts, ends=ends, axes=axes, steps=steps, _op_type="Slice")
    np.testing.assert_array_equal(got, want)
    (shape, dtype), = slice_op.infer(TensorInfo(x.shape, str(x.dtype)), starts=starts, ends=ends, axes=axes,
                                      steps=steps, _op_type="Slice")
    assert got.dtype == want.dtype and shape == want.shape and dtype == str(want.dtype)


@st.composite
def slices(draw):
    shape = draw(st.lists(st.integers(1, 6), min_size=1, max_size=5))
    axes = draw(st.permutations(range(len(shape))).map(lambda p: list(p)))[:draw(st.integers(1, len(shape)))]
    bound = st.integers(-9, 9) | st.sampled_from([-2**63, 2**63 - 1])
    starts = [draw(bound) for _ in axes]
    ends = [draw(bound) for _ in axes]
    steps = [draw(st.integers(-3, 3).filter(bool)) for _ in axes]
    # onnxruntime reads ends = INT64_MAX with a negative step as "to the front"; the ONNX spec (and its
    # reference) clamps it to dim-1, giving an empty slice: test_int64_max_end_follows_the_spec covers it.
    ends = [e if not (e == 2**63 - 1 and s < 0) else -2**63 for e, s in zip(ends, steps, strict=True)]
    negative_axes = [a - len(shape) if draw(st.booleans()) else a for a in axes]
    return shape, starts, ends, negative_axes, steps


@settings(max_examples=60, deadline=None)
@given(slices())
def test_random_slices_match_onnxruntime(spec):
    shape, starts, ends, axes, steps = spec
    x = np.random.default_rng(len(shape)).standard_normal(shape).astype(np.float32)
    check(x, starts, ends, axes, steps)


@pytest.mark.parametrize("starts,ends,axes,steps", [
    ([1, 0], [3, -1], None, None),
    ([-1], [-2**63], [0], [-1]),
    ([0, 2], [2**63 - 1, 1], [0, 1], [2, -1]),
])
def test_int64_and_defaults(starts, ends, axes, steps):
    x = np.random.default_rng(7).integers(-1000, 1000, (4, 5), dtype=np.int64)
    check(x, starts, ends, axes, steps)


def test_int64_max_end_follows_the_spec():
    from onnx.reference.ops.op_slice import _slice

    x = np.random.default_rng(5).standard_normal((2, 5)).astype(np.float32)
    starts, ends, axes, steps = [3], [2**63 - 1], [1], [-1]
    (got,) = slice_op.reference(x, starts=starts, ends=ends, axes=axes, steps=steps, _op_type="Slice")
    want = _slice(x, *(np.array(v, np.int64) for v in (starts, ends, axes, steps)))
    assert got.shape == want.shape == (2, 0)
