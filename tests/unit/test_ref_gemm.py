"""Gemm and MatMul NumPy references against onnxruntime on single-node models, fresh random inputs."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from pymace.ops import gemm
from pymace.ops.base import TensorInfo

ONNX_ATTRS = ("alpha", "beta", "transA", "transB")


def run_onnx(op_type, arrays, attrs):
    names = [f"in{i}" if a is not None else "" for i, a in enumerate(arrays)]
    given = [(n, a) for n, a in zip(names, arrays, strict=True) if n]
    node = helper.make_node(op_type, names, ["y"], **attrs)
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, a.shape) for n, a in given]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    model = helper.make_model(helper.make_graph([node], "g", inputs, [out]),
                              opset_imports=[helper.make_opsetid("", 13)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, dict(given))[0]


def check(op_type, arrays, attrs):
    got = gemm.reference(*arrays, _op_type=op_type, **attrs)[0]
    want = run_onnx(op_type, arrays, {k: v for k, v in attrs.items() if k in ONNX_ATTRS})
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max(), rtol=0)
    infos = [TensorInfo(a.shape) for a in arrays[:2]]
    assert gemm.infer(*infos, _op_type=op_type, **attrs)[0][0] == got.shape


@pytest.mark.parametrize("case", [c for c in gemm.CASES if "activation" not in c.attrs], ids=lambda c: c.name)
def test_cases_match_onnxruntime(case):
    check(case.op_type or "Gemm", case.make_inputs(np.random.default_rng(1)), case.attrs)


@pytest.mark.parametrize("a, b, c", [((3, 4), (4, 5), None), ((3, 4), (4, 5), (5,)), ((3, 4), (4, 5), ())])
def test_gemm_defaults(a, b, c):
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(s).astype(np.float32) if s is not None else None for s in (a, b, c)]
    check("Gemm", arrays if c is not None else arrays[:2], {})


@pytest.mark.parametrize("a, b", [((5,), (5,)), ((2, 1, 4, 3), (5, 3, 6)), ((1, 3, 7), (2, 1, 7, 2))])
def test_matmul_broadcasting(a, b):
    rng = np.random.default_rng(3)
    check("MatMul", [rng.standard_normal(s).astype(np.float32) for s in (a, b)], {})


def test_fused_prelu_per_column():
    rng = np.random.default_rng(4)
    a, b, c = (rng.standard_normal(s).astype(np.float32) for s in ((3, 6), (6, 4), (4,)))
    slope = rng.uniform(0.1, 0.5, 4).astype(np.float32)
    plain = run_onnx("Gemm", [a, b, c], {})
    got = gemm.reference(a, b, c, slope, _op_type="Gemm", activation="PRelu")[0]
    np.testing.assert_allclose(got, np.where(plain >= 0, plain, plain * slope), atol=1e-5)
