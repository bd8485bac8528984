"""Transpose's reference and shape inference against onnxruntime: random permutations of rank 1 to 6."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import helper

from pymace.ops import transpose
from pymace.ops.base import TensorInfo


def ort_run(op_type, inputs, attrs, n_outputs=1, opset=18):
    """Run one ONNX node on onnxruntime; `inputs` may hold None for omitted optional inputs."""
    names = [f"i{k}" if a is not None else "" for k, a in enumerate(inputs)]
    vi = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
          for n, a in zip(names, inputs, strict=True) if n]
    outs = [helper.make_tensor_value_info(f"o{k}", vi[0].type.tensor_type.elem_type, None) for k in range(n_outputs)]
    node = helper.make_node(op_type, names, [o.name for o in outs], **attrs)
    model = helper.make_model(helper.make_graph([node], "g", vi, outs), opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {n: a for n, a in zip(names, inputs, strict=True) if n})


@pytest.mark.parametrize("rank", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_random_perms_match_onnxruntime(rank, dtype):
    rng = np.random.default_rng(rank)
    for _ in range(3):
        x = (rng.standard_normal(rng.integers(1, 5, rank)) * 100).astype(dtype)
        perm = [int(p) for p in rng.permutation(rank)]
        check(x, {"perm": perm})


def test_default_perm_reverses():
    check(np.random.default_rng(0).standard_normal((2, 3, 5)).astype(np.float32), {})


def check(x, attrs):
    (want,) = ort_run("Transpose", [x], attrs)
    (got,) = transpose.reference(x, _op_type="Transpose", **attrs)
    np.testing.assert_array_equal(got, want)
    (shape, dtype), = transpose.infer(TensorInfo(x.shape, str(x.dtype)), _op_type="Transpose", **attrs)
    assert got.dtype == want.dtype and shape == want.shape and dtype == str(want.dtype)
