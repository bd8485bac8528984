"""Add/Sub/Mul/Div references against onnxruntime (broadcasting both ways), and the host-side broadcast plan."""
import numpy as np
import pytest

from pymace.ops import binary
from pymace.ops.base import TensorInfo
from tests.helpers import ort_run

SHAPES = [((2, 5, 7, 9), (2, 5, 7, 9)), ((1, 6, 13, 11), (1, 6, 1, 1)), ((2, 7, 5, 5), (7, 1, 1)),
          ((1,), (2, 3, 5, 6)), ((2, 1, 5, 1), (1, 3, 1, 7)), ((3, 4, 9), (9,)), ((), (4, 3))]


@pytest.mark.parametrize("op", [op for op in binary.OP_TYPES if op != "Mod"])  # float Mod: fmod=1 until opset 28
@pytest.mark.parametrize("sa, sb", SHAPES)
def test_matches_onnxruntime(op, sa, sb):
    rng = np.random.default_rng(len(sa) * 7 + len(sb))
    a = rng.standard_normal(sa).astype(np.float32)
    b = (rng.uniform(0.5, 2, sb) * rng.choice([-1, 1], sb)).astype(np.float32)
    got = binary.reference(a, b, _op_type=op)[0]
    want = ort_run(op, [a, b], {}, opset=14)[0]
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert binary.infer(TensorInfo(sa), TensorInfo(sb), _op_type=op)[0][0] == want.shape


def test_fused_activation_and_prelu_slope():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 1, 4, 3, 3)).astype(np.float32)
    slope = rng.uniform(0.1, 0.5, 4).astype(np.float32)
    got = binary.reference(a, b, slope, _op_type="Add", activation="PRelu")[0]
    s = a + b
    np.testing.assert_allclose(got, np.where(s >= 0, s, s * slope.reshape(1, 4, 1, 1)), rtol=1e-6)
    clipped = binary.reference(a, b, _op_type="Mul", activation="Clip", activation_params=[0.0, 0.3])[0]
    np.testing.assert_allclose(clipped, np.clip(a * b, 0, 0.3))


def test_integer_div_truncates_like_onnx():
    a, b = np.array([7, -7, 6], np.int64), np.array([2, 2, -4], np.int64)
    got = binary.reference(a, b, _op_type="Div")[0]
    assert got.dtype == np.int64 and got.tolist() == [3, -3, -1]


@pytest.mark.parametrize("out, shapes, dims, spans", [
    ((2, 8, 5, 5), [(2, 8, 5, 5), (2, 8, 5, 5)], [400], [[True], [True]]),
    ((2, 8, 5, 5), [(2, 8, 5, 5), (1, 8, 1, 1)], [2, 8, 25], [[True] * 3, [False, True, False]]),
    ((2, 8, 5, 5), [(2, 8, 5, 5), (1,)], [400], [[True], [False]]),
    ((2, 3, 5, 7), [(2, 1, 5, 1), (1, 3, 1, 7)], [2, 3, 5, 7], [[True, False] * 2, [False, True] * 2]),
    ((1, 1), [(1, 1), (1,)], [1], [[False], [False]]),
])
def test_collapse_groups_dims(out, shapes, dims, spans):
    assert binary.collapse(out, *shapes) == (dims, spans)
    assert binary.strides([2, 8, 25], [True, False, True]) == [25, 0, 1]
