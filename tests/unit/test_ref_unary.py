"""Unary activation references against onnxruntime, fresh random inputs (Clip's bounds and PRelu's slope as
ONNX inputs there, as IR attributes / input here)."""
import numpy as np
import pytest

from pymace.ops import unary
from pymace.ops.base import TensorInfo
from tests.helpers import ort_run


def clip_bounds(lo, hi) -> list:
    """Clip's min and max as ONNX inputs (None: omitted)."""
    return [None if v is None else np.float32(v) for v in (lo, hi)]


@pytest.mark.parametrize("op, attrs", [
    ("Relu", {}), ("HardSwish", {}), ("HardSigmoid", {}), ("HardSigmoid", {"alpha": 0.1667, "beta": 0.45}),
    ("Sigmoid", {}), ("LeakyRelu", {}), ("LeakyRelu", {"alpha": 0.3}), ("Tanh", {}),
])
def test_matches_onnxruntime(op, attrs):
    x = np.random.default_rng(len(op)).normal(0, 4, (2, 5, 7, 3)).astype(np.float32)
    got = unary.reference(x, _op_type=op, **attrs)[0]
    assert got.shape == x.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, ort_run(op, [x], attrs, opset=14)[0], rtol=1e-6, atol=1e-6)
    assert unary.infer(TensorInfo(x.shape), _op_type=op, **attrs) == [(x.shape, "float32")]


@pytest.mark.parametrize("lo, hi", [(0.0, 6.0), (-0.5, None), (None, 0.25), (None, None), (1.0, -1.0)])
def test_clip_matches_onnxruntime(lo, hi):
    x = np.random.default_rng(5).normal(0, 4, (3, 4, 5)).astype(np.float32)
    attrs = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
    got = unary.reference(x, _op_type="Clip", **attrs)[0]
    np.testing.assert_array_equal(got, ort_run("Clip", [x, *clip_bounds(lo, hi)], {}, opset=14)[0])


def test_clip_keeps_integer_dtype():
    got = unary.reference(np.array([-5, 0, 9], np.int32), _op_type="Clip", min=-2, max=4)[0]
    assert got.dtype == np.int32 and got.tolist() == [-2, 0, 4]


@pytest.mark.parametrize("xs, ss", [((1, 6, 5, 7), (6, 1, 1)), ((2, 3, 4, 4), (1,)), ((2, 3, 4, 5), (5,)),
                                    ((5, 13), (13,)), ((2, 3, 4, 5), (3, 1, 5))])
def test_prelu_broadcasts_like_onnxruntime(xs, ss):
    rng = np.random.default_rng(sum(xs))
    x, slope = rng.standard_normal(xs).astype(np.float32), rng.uniform(-1, 1, ss).astype(np.float32)
    got = unary.reference(x, slope, _op_type="PRelu")[0]
    np.testing.assert_allclose(got, ort_run("PRelu", [x, slope], {}, opset=14)[0], rtol=1e-6, atol=1e-7)
