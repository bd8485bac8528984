"""Conv's NumPy reference against onnxruntime on single-node models, fresh random inputs."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from pymace.ops import conv
from pymace.ops.base import TensorInfo


def run_onnx(op_type, arrays, attrs, opset=13):
    """Run one ONNX node on onnxruntime; `arrays` are the node inputs (None = omitted)."""
    names = [f"in{i}" if a is not None else "" for i, a in enumerate(arrays)]
    node = helper.make_node(op_type, names, ["y"], **attrs)
    given = [(n, a) for n, a in zip(names, arrays, strict=True) if n]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, a.shape) for n, a in given]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    model = helper.make_model(helper.make_graph([node], "g", inputs, [out]),
                              opset_imports=[helper.make_opsetid("", opset)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, dict(given))[0]


def assert_close(got, want, tol=1e-5):
    assert got.shape == want.shape
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=tol * np.abs(want).max(), rtol=0)


ONNX_ATTRS = ("kernel_shape", "strides", "pads", "dilations", "group", "auto_pad")


@pytest.mark.parametrize("case", [c for c in conv.CASES if "activation" not in c.attrs], ids=lambda c: c.name)
def test_cases_match_onnxruntime(case):
    arrays = case.make_inputs(np.random.default_rng(1))
    attrs = {k: v for k, v in case.attrs.items() if k in ONNX_ATTRS}
    want = run_onnx("Conv", arrays[:3], attrs)
    if case.attrs.get("residual"):  # pymace's fused residual is ONNX's Conv followed by an Add
        want = want + arrays[3]
    assert_close(conv.reference(*arrays, _op_type="Conv", **case.attrs)[0], want)


@pytest.mark.parametrize("attrs, x, w", [
    (dict(auto_pad="SAME_UPPER", strides=[2, 2]), (1, 3, 9, 10), (4, 3, 3, 3)),
    (dict(auto_pad="SAME_LOWER", strides=[2, 1]), (1, 3, 8, 7), (4, 3, 4, 2)),
    (dict(auto_pad="VALID", dilations=[2, 1]), (2, 4, 9, 9), (5, 4, 3, 3)),
    (dict(pads=[1, 2]), (2, 3, 11), (4, 3, 3)),  # 1-D
    (dict(pads=[1, 0, 0, 0, 1, 1], group=2), (1, 4, 5, 6, 5), (6, 2, 2, 3, 2)),  # 3-D
])
def test_defaults_auto_pad_and_rank(attrs, x, w):
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in (x, w, (w[0],))]
    if "group" in attrs:
        arrays[1] = rng.standard_normal((w[0], x[1] // attrs["group"], *w[2:])).astype(np.float32)
    got = conv.reference(*arrays, _op_type="Conv", **attrs)[0]
    assert_close(got, run_onnx("Conv", arrays, attrs))
    assert conv.infer(TensorInfo(x), TensorInfo(arrays[1].shape), _op_type="Conv", **attrs)[0][0] == got.shape


def test_fused_activation_matches_separate_node():
    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((1, 4, 6, 6), (5, 4, 3, 3), (5,)))
    slope = rng.uniform(0.1, 0.5, 5).astype(np.float32)
    plain = run_onnx("Conv", [x, w, b], dict(pads=[1] * 4))
    want = np.where(plain >= 0, plain, plain * slope.reshape(1, -1, 1, 1))
    got = conv.reference(x, w, b, slope, _op_type="Conv", pads=[1] * 4, activation="PRelu")[0]
    assert_close(got, want)
    got = conv.reference(x, w, _op_type="Conv", pads=[1] * 4, activation="Relu")[0]
    assert_close(got, np.maximum(run_onnx("Conv", [x, w], dict(pads=[1] * 4)), 0))
