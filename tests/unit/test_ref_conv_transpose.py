"""ConvTranspose's NumPy reference against onnxruntime on single-node models, fresh random inputs."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from pymace.ops import conv_transpose
from pymace.ops.base import TensorInfo

ONNX_ATTRS = ("kernel_shape", "strides", "pads", "dilations", "group", "auto_pad", "output_padding",
              "output_shape")


def run_onnx(arrays, attrs):
    names = [f"in{i}" if a is not None else "" for i, a in enumerate(arrays)]
    given = [(n, a) for n, a in zip(names, arrays, strict=True) if n]
    node = helper.make_node("ConvTranspose", names, ["y"], **attrs)
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, a.shape) for n, a in given]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    model = helper.make_model(helper.make_graph([node], "g", inputs, [out]),
                              opset_imports=[helper.make_opsetid("", 13)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, dict(given))[0]


def check(arrays, attrs):
    got = conv_transpose.reference(*arrays, _op_type="ConvTranspose", **attrs)[0]
    want = run_onnx(arrays, {k: v for k, v in attrs.items() if k in ONNX_ATTRS})
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max(), rtol=0)
    shapes = [TensorInfo(a.shape) for a in arrays[:2]]
    assert conv_transpose.infer(*shapes, _op_type="ConvTranspose", **attrs)[0][0] == got.shape


@pytest.mark.parametrize("case", [c for c in conv_transpose.CASES if "activation" not in c.attrs],
                         ids=lambda c: c.name)
def test_cases_match_onnxruntime(case):
    check(case.make_inputs(np.random.default_rng(1)), case.attrs)


@pytest.mark.parametrize("attrs, x, w", [
    (dict(strides=[3, 2], output_shape=[10, 8]), (1, 1, 3, 3), (1, 2, 3, 3)),
    (dict(strides=[2, 2], output_shape=[10, 9], auto_pad="SAME_UPPER"), (1, 2, 5, 4), (2, 3, 2, 3)),
    (dict(strides=[2, 2], auto_pad="SAME_LOWER"), (1, 2, 4, 5), (2, 3, 3, 3)),
    (dict(), (2, 3, 4, 5), (3, 4, 3, 2)),  # every attribute at its ONNX default
    (dict(strides=[2], pads=[1, 0]), (1, 3, 7), (3, 2, 4)),  # 1-D
    (dict(strides=[1, 2, 1], group=3), (1, 3, 3, 4, 3), (3, 2, 2, 2, 2)),  # 3-D, grouped
])
def test_defaults_output_shape_and_rank(attrs, x, w):
    rng = np.random.default_rng(2)
    check([rng.standard_normal(s).astype(np.float32) for s in (x, w, (w[1] * attrs.get("group", 1),))], attrs)


def test_fused_prelu_matches_separate_node():
    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((1, 3, 5, 5), (3, 4, 2, 2), (4,)))
    slope = rng.uniform(0.1, 0.5, 4).astype(np.float32)
    plain = run_onnx([x, w, b], dict(strides=[2, 2]))
    got = conv_transpose.reference(x, w, b, slope, _op_type="ConvTranspose", strides=[2, 2],
                                   activation="PRelu")[0]
    want = np.where(plain >= 0, plain, plain * slope.reshape(1, -1, 1, 1))
    np.testing.assert_allclose(got, want, atol=1e-5)
