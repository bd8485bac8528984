"""Pooling references against onnxruntime: ceil_mode, asymmetric pads, dilations, count_include_pad, auto_pad,
1-D/3-D, MaxPool's Indices, and the global pools; fresh random inputs."""
import numpy as np
import pytest

from pymace.ops import pool
from pymace.ops.base import TensorInfo
from tests.helpers import ort_run

POOL_CASES = [
    ((1, 5, 8, 8), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ((2, 3, 9, 11), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 6, 10, 7), {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [0, 1, 1, 0], "ceil_mode": 1}),
    ((2, 3, 11, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 0, 1], "ceil_mode": 1}),
    ((1, 5, 7, 7), {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
    ((1, 3, 6, 6), {"kernel_shape": [3, 3], "strides": [3, 3], "pads": [1, 1, 1, 1], "ceil_mode": 1}),
    ((1, 2, 5, 5), {"kernel_shape": [2, 2], "strides": [3, 3], "pads": [0, 0, 1, 1], "ceil_mode": 1}),
    ((1, 4, 5, 6), {"kernel_shape": [2, 3]}),
    ((1, 3, 7, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 3, 8, 9), {"kernel_shape": [2, 4], "strides": [1, 2], "auto_pad": "SAME_LOWER"}),
    ((1, 3, 8, 9), {"kernel_shape": [3, 2], "strides": [2, 2], "auto_pad": "VALID"}),
    ((2, 5, 17), {"kernel_shape": [3], "strides": [2], "pads": [1, 0]}),
    ((1, 2, 5, 6, 7), {"kernel_shape": [2, 3, 2], "strides": [2, 1, 2], "pads": [0, 1, 1, 1, 0, 0]}),
]


@pytest.mark.parametrize("shape, attrs", POOL_CASES)
@pytest.mark.parametrize("op, extra", [("MaxPool", {}), ("AveragePool", {"count_include_pad": 0}),
                                       ("AveragePool", {"count_include_pad": 1})])
def test_matches_onnxruntime(op, extra, shape, attrs):
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    attrs = {**attrs, **extra}
    got = pool.reference(x, _op_type=op, **attrs)[0]
    want = ort_run(op, [x], attrs, opset=19)[0]
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert pool.infer(TensorInfo(shape), _op_type=op, **attrs)[0][0] == want.shape


@pytest.mark.parametrize("shape, attrs", [
    ((1, 3, 11, 10), {"kernel_shape": [2, 3], "dilations": [2, 2], "pads": [1, 0, 0, 2]}),
    ((1, 2, 9, 9), {"kernel_shape": [3, 3], "dilations": [2, 1], "strides": [2, 2], "ceil_mode": 1}),
])
def test_dilated_maxpool_matches_onnxruntime(shape, attrs):
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    want = ort_run("MaxPool", [x], attrs, opset=19)[0]
    np.testing.assert_allclose(pool.reference(x, _op_type="MaxPool", **attrs)[0], want)


@pytest.mark.parametrize("storage_order", [0, 1])
def test_maxpool_indices_match_onnxruntime(storage_order):
    x = np.random.default_rng(9).standard_normal((2, 3, 7, 6)).astype(np.float32)
    attrs = {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 0, 1, 1], "storage_order": storage_order}
    y, idx = pool.reference(x, _op_type="MaxPool", **attrs)
    want_y, want_idx = ort_run("MaxPool", [x], attrs, n_outputs=2, opset=19)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(idx, want_idx)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize("shape", [(2, 6, 7, 7), (1, 3, 31, 29), (2, 4, 9)])
def test_global_pools_match_onnxruntime(op, shape):
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    got = pool.reference(x, _op_type=op)[0]
    want = ort_run(op, [x], {}, opset=19)[0]
    assert got.shape == want.shape == pool.infer(TensorInfo(shape), _op_type=op)[0][0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
