"""ReduceMean reference against onnxruntime (opset 13: axes as an attribute), and the launch plan."""
import numpy as np
import pytest

from pymace.ops import reduce
from pymace.ops.base import TensorInfo
from tests.helpers import ort_run


@pytest.mark.parametrize("shape, attrs", [
    ((2, 5, 7, 9), {"axes": [2, 3]}), ((1, 3, 40, 33), {"axes": [2, 3], "keepdims": 0}),
    ((2, 7, 3, 5), {"axes": [1]}), ((3, 4, 130), {"axes": [-1], "keepdims": 0}),
    ((3, 4, 5, 6), {"axes": [0, 2], "keepdims": 0}), ((2, 3, 17, 5), {}), ((4, 1, 6), {"axes": [1]}),
])
def test_matches_onnxruntime(shape, attrs):
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    got = reduce.reference(x, _op_type="ReduceMean", **attrs)[0]
    want = ort_run("ReduceMean", [x], attrs, opset=13)[0]
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert reduce.infer(TensorInfo(shape), _op_type="ReduceMean", **attrs)[0][0] == want.shape


def test_noop_with_empty_axes_copies():
    x = np.random.default_rng(2).standard_normal((2, 3)).astype(np.float32)
    got = reduce.reference(x, _op_type="ReduceMean", axes=[], noop_with_empty_axes=1)[0]
    np.testing.assert_array_equal(got, x)


@pytest.mark.parametrize("shape, red, steps", [
    ((2, 8, 5, 5), (2, 3), [(16, 25, 1)]), ((2, 8, 5, 5), (1,), [(2, 8, 25)]),
    ((3, 4, 5, 6), (0, 2), [(12, 5, 6), (1, 3, 24)]), ((4, 1, 6), (1,), [(24, 1, 1)]),
])
def test_plan_one_launch_per_reduced_run(shape, red, steps):
    assert reduce.plan(shape, red) == steps
