"""ops/geometry.py: window geometry with ONNX's padding rules, and the checks that turn a malformed Conv, pool,
ConvTranspose or SeparableConv into one clear line at convert."""
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pymace.errors import ConvertError
from pymace.ops import geometry, separable_conv
from pymace.ops.base import TensorInfo
from pymace.tools.convert import convert
from tests.helpers import make_model


@pytest.mark.parametrize("size, k, s, d, lower, want", [
    ((9, 10), (3, 3), (2, 2), (1, 1), False, [1, 0, 1, 1]),
    ((8, 7), (4, 2), (2, 1), (1, 1), False, [1, 0, 1, 1]),
    ((8, 7), (4, 2), (2, 1), (1, 1), True, [1, 1, 1, 0]),
    ((7, 9), (3, 3), (2, 2), (2, 2), False, [2, 2, 2, 2]),
    ((10, 10), (1, 1), (3, 3), (1, 1), False, [0, 0, 0, 0]),
])
def test_same_pads(size, k, s, d, lower, want):
    assert geometry.same_pads(size, k, s, d, lower) == want
    w = geometry.window(size, k, s, None, d, "SAME_LOWER" if lower else "SAME_UPPER")
    assert w.out == tuple(-(-n // st) for n, st in zip(size, s)) and list(w.pads) == want


def test_window_rounding_and_defaults():
    w = geometry.window((7, 7), (2, 2), (2, 2))
    assert (w.out, w.pads, w.dilations, w.span) == ((3, 3), (0, 0, 0, 0), (1, 1), (2, 2))
    assert geometry.window((7, 7), (2, 2), (2, 2), ceil_mode=1).out == (4, 4)
    assert geometry.window((5, 5), (2, 2), (3, 3), (0, 0, 1, 1), ceil_mode=1).out == (2, 2)  # last window dropped
    assert geometry.window((9,), (3,), pads=[1, 2], auto_pad="VALID").out == (7,)
    w = geometry.transpose_window((1, 3, 5, 5), (3, 2, 3, 3), strides=[2, 2], output_shape=[10, 11])
    assert w.out == (10, 11) and w.pads == (1, 0, 0, 0)


@pytest.mark.parametrize("x, w, attrs, words", [
    ((1, 5, 8, 8), (4, 3, 3, 3), {}, "take 3 channels a group, the input has 5"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"pads": [1, -1, 1, 1]}, "pads [1, -1, 1, 1]"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"strides": [0, 1]}, "strides [0, 1]"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"dilations": [1, 0]}, "dilations [1, 0]"),
    ((1, 6, 8, 8), (4, 3, 3, 3), {"group": 0}, "group 0"),
    ((1, 5, 8, 8), (4, 1, 3, 3), {"group": 2}, "group 2 does not divide the 5 input channels"),
    ((1, 6, 8, 8), (5, 3, 3, 3), {"group": 2}, "group 2 does not divide the 5 output channels"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"kernel_shape": [5, 5]}, "kernel_shape [5, 5] disagrees with the weights' [3, 3]"),
    ((1, 3, 2, 8), (4, 3, 3, 3), {}, "the output would be empty"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"auto_pad": "SAME"}, "auto_pad 'SAME'"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"strides": [1, 1, 1]}, "strides [1, 1, 1] has 3 values, 2 expected"),
    ((1, 3, 8, 8), (4, 3, 3), {}, "both must have rank 4"),
])
def test_malformed_conv_fails_at_convert_with_one_line(tmp_path, x, w, attrs, words):
    inits = [numpy_helper.from_array(np.random.default_rng(0).standard_normal(w).astype(np.float32), "w")]
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv7", **attrs)
    error = _convert_error(tmp_path, node, x, inits)
    assert words in error and error.startswith("node 'conv7' (Conv): ")


@pytest.mark.parametrize("op, attrs, words", [
    ("MaxPool", {"kernel_shape": [2, 2], "strides": [0, 2]}, "strides [0, 2]"),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [0, 0, -2, 0]}, "pads [0, 0, -2, 0]"),
    ("MaxPool", {"kernel_shape": [9, 9]}, "the output would be empty"),
    ("AveragePool", {"kernel_shape": [2, 2, 2]}, "kernel_shape [2, 2, 2] has 3 values, 2 expected"),
])
def test_malformed_pool_fails_at_convert_with_one_line(tmp_path, op, attrs, words):
    error = _convert_error(tmp_path, helper.make_node(op, ["x"], ["y"], name="pool3", **attrs), (1, 3, 8, 8), [])
    assert words in error and error.startswith(f"node 'pool3' ({op}): ")


@pytest.mark.parametrize("w, attrs, words", [
    ((4, 2, 3, 3), {}, "its 3 channels first"),
    ((3, 2, 3, 3), {"strides": [2, 0]}, "strides [2, 0]"),
    ((3, 2, 3, 3), {"kernel_shape": [2, 2]}, "kernel_shape [2, 2] disagrees"),
    ((3, 2, 3, 3), {"output_padding": [-1, 0]}, "output_padding [-1, 0]"),
])
def test_malformed_conv_transpose_fails_at_convert_with_one_line(tmp_path, w, attrs, words):
    inits = [numpy_helper.from_array(np.random.default_rng(1).standard_normal(w).astype(np.float32), "w")]
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="up1", **attrs)
    error = _convert_error(tmp_path, node, (1, 3, 6, 6), inits)
    assert words in error and "'up1' (ConvTranspose)" in error


def test_conv_bias_of_the_wrong_size(tmp_path):
    rng = np.random.default_rng(2)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal(5).astype(np.float32), "b")]
    error = _convert_error(tmp_path, helper.make_node("Conv", ["x", "w", "b"], ["y"], name="c"), (1, 3, 8, 8), inits)
    assert "bias of shape [5] for 4 output channels" in error


def test_separable_conv_checks_both_weights():
    x, dw, pw = TensorInfo((1, 8, 9, 9)), TensorInfo((8, 1, 3, 3)), TensorInfo((5, 8, 1, 1))
    geo = dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1] * 4, dilations=[1, 1])
    assert separable_conv.infer(x, dw, None, pw, **geo)[0][0] == (1, 5, 9, 9)
    with pytest.raises(ConvertError, match="take 2 channels a group"):
        separable_conv.infer(x, TensorInfo((8, 2, 3, 3)), None, pw, **geo)
    with pytest.raises(ConvertError, match=r"1x1 weights of shape \[5, 7, 1, 1\] for 8 channels"):
        separable_conv.infer(x, dw, None, TensorInfo((5, 7, 1, 1)), **geo)


def test_the_cli_prints_one_line(tmp_path):
    inits = [numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")]
    path = _model(tmp_path, helper.make_node("Conv", ["x", "w"], ["y"], name="conv7", strides=[0, 0]),
                  (1, 3, 8, 8), inits)
    done = subprocess.run([sys.executable, "-m", "pymace.cli", "convert", str(path), "-o", str(tmp_path / "m.pmace")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "pymace: error: node 'conv7' (Conv): strides [0, 0]: every value must be at least 1"]


def _model(tmp_path, node, x_shape, inits):
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    path = tmp_path / "bad.onnx"
    onnx.save(make_model(graph, 13), path)
    return path


def _convert_error(tmp_path, node, x_shape, inits) -> str:
    with pytest.raises(ConvertError) as caught:
        convert(_model(tmp_path, node, x_shape, inits))
    message = str(caught.value)
    assert "\n" not in message
    return message
