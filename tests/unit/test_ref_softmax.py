"""Softmax (opset 13) reference against onnxruntime on every axis position, fresh random inputs."""
import numpy as np
import pytest

from pymace.ops import softmax
from pymace.ops.base import TensorInfo
from tests.helpers import ort_run


@pytest.mark.parametrize("shape, attrs", [((6, 10), {}), ((3, 1000), {"axis": 1}), ((2, 5, 7, 3), {"axis": 1}),
                                          ((4, 3, 5), {"axis": 0}), ((2, 3, 4, 5), {"axis": -2}),
                                          ((5, 1), {})])
def test_matches_onnxruntime(shape, attrs):
    x = np.random.default_rng(sum(shape)).normal(0, 5, shape).astype(np.float32)
    got = softmax.reference(x, _op_type="Softmax", **attrs)[0]
    want = ort_run("Softmax", [x], attrs, opset=13)[0]
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert softmax.infer(TensorInfo(shape), _op_type="Softmax", **attrs) == [(shape, "float32")]


def test_large_logits_stay_finite():
    x = np.random.default_rng(1).uniform(-500, 500, (3, 40)).astype(np.float32)
    got = softmax.reference(x, _op_type="Softmax")[0]
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got.sum(axis=-1), 1, rtol=1e-5)
    np.testing.assert_allclose(got, ort_run("Softmax", [x], {}, opset=13)[0], rtol=1e-5, atol=1e-7)
