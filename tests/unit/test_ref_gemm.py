"""Gemm and MatMul NumPy references against onnxruntime where their CASES don't reach (Gemm's defaults, MatMul's
1-D and broadcast operands; the cases themselves: tests/ops/test_reference_vs_onnxruntime.py), fresh random inputs."""
import numpy as np
import pytest

from pymace.ops import gemm
from pymace.ops.base import TensorInfo
from tests.helpers import ort_run

ONNX_ATTRS = ("alpha", "beta", "transA", "transB")


def check(op_type, arrays, attrs):
    got = gemm.reference(*arrays, _op_type=op_type, **attrs)[0]
    want = ort_run(op_type, arrays, {k: v for k, v in attrs.items() if k in ONNX_ATTRS}, opset=13)[0]
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max(), rtol=0)
    infos = [TensorInfo(a.shape) for a in arrays[:2]]
    assert gemm.infer(*infos, _op_type=op_type, **attrs)[0][0] == got.shape


@pytest.mark.parametrize("a, b, c", [((3, 4), (4, 5), None), ((3, 4), (4, 5), (5,)), ((3, 4), (4, 5), ())])
def test_gemm_defaults(a, b, c):
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(s).astype(np.float32) if s is not None else None for s in (a, b, c)]
    check("Gemm", arrays if c is not None else arrays[:2], {})


@pytest.mark.parametrize("a, b", [((5,), (5,)), ((2, 1, 4, 3), (5, 3, 6)), ((1, 3, 7), (2, 1, 7, 2))])
def test_matmul_broadcasting(a, b):
    rng = np.random.default_rng(3)
    check("MatMul", [rng.standard_normal(s).astype(np.float32) for s in (a, b)], {})
