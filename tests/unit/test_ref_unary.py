"""Unary activation references against onnxruntime, fresh random inputs (Clip's bounds and PRelu's slope as
ONNX inputs there, as IR attributes / input here)."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from pymace.ops import unary
from pymace.ops.base import TensorInfo


def run_onnx(op, x, attrs=None, extra=()):
    """One-node model; `extra` inputs (Clip bounds, PRelu slope) are initializers, "" where omitted."""
    inits, names = [], ["x"]
    for i, e in enumerate(extra):
        names.append("" if e is None else f"e{i}")
        if e is not None:
            inits.append(numpy_helper.from_array(np.asarray(e, np.float32), f"e{i}"))
    node = helper.make_node(op, names, ["y"], **(attrs or {}))
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


@pytest.mark.parametrize("op, attrs", [
    ("Relu", {}), ("HardSwish", {}), ("HardSigmoid", {}), ("HardSigmoid", {"alpha": 0.1667, "beta": 0.45}),
    ("Sigmoid", {}), ("LeakyRelu", {}), ("LeakyRelu", {"alpha": 0.3}), ("Tanh", {}),
])
def test_matches_onnxruntime(op, attrs):
    x = np.random.default_rng(len(op)).normal(0, 4, (2, 5, 7, 3)).astype(np.float32)
    got = unary.reference(x, _op_type=op, **attrs)[0]
    assert got.shape == x.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, run_onnx(op, x, attrs), rtol=1e-6, atol=1e-6)
    assert unary.infer(TensorInfo(x.shape), _op_type=op, **attrs) == [(x.shape, "float32")]


@pytest.mark.parametrize("lo, hi", [(0.0, 6.0), (-0.5, None), (None, 0.25), (None, None), (1.0, -1.0)])
def test_clip_matches_onnxruntime(lo, hi):
    x = np.random.default_rng(5).normal(0, 4, (3, 4, 5)).astype(np.float32)
    attrs = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
    got = unary.reference(x, _op_type="Clip", **attrs)[0]
    np.testing.assert_array_equal(got, run_onnx("Clip", x, extra=(lo, hi)))


def test_clip_keeps_integer_dtype():
    got = unary.reference(np.array([-5, 0, 9], np.int32), _op_type="Clip", min=-2, max=4)[0]
    assert got.dtype == np.int32 and got.tolist() == [-2, 0, 4]


@pytest.mark.parametrize("xs, ss", [((1, 6, 5, 7), (6, 1, 1)), ((2, 3, 4, 4), (1,)), ((2, 3, 4, 5), (5,)),
                                    ((5, 13), (13,)), ((2, 3, 4, 5), (3, 1, 5))])
def test_prelu_broadcasts_like_onnxruntime(xs, ss):
    rng = np.random.default_rng(sum(xs))
    x, slope = rng.standard_normal(xs).astype(np.float32), rng.uniform(-1, 1, ss).astype(np.float32)
    got = unary.reference(x, slope, _op_type="PRelu")[0]
    np.testing.assert_allclose(got, run_onnx("PRelu", x, extra=(slope,)), rtol=1e-6, atol=1e-7)
