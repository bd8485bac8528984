"""Concat's reference and shape inference against onnxruntime (single-node models, random inputs)."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import helper

from pymace.ops import concat
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


@pytest.mark.parametrize("shapes,axis", [
    ([(1, 3, 5, 7), (1, 5, 5, 7), (1, 1, 5, 7)], 1),
    ([(2, 3, 4, 5), (2, 3, 4, 2)], -1),
    ([(3, 7), (1, 7)], 0),
    ([(2, 1, 3, 4, 5), (2, 1, 6, 4, 5), (2, 1, 1, 4, 5)], -3),
    ([(4,), (3,)], 0),
])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_matches_onnxruntime(shapes, axis, dtype):
    rng = np.random.default_rng(len(shapes) * 10 + axis)
    xs = [(rng.standard_normal(s) * 100).astype(dtype) for s in shapes]
    (got,) = concat.reference(*xs, axis=axis, _op_type="Concat")
    (want,) = ort_run("Concat", xs, {"axis": axis})
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype
    (shape, dt), = concat.infer(*[TensorInfo(x.shape, str(x.dtype)) for x in xs], axis=axis, _op_type="Concat")
    assert shape == want.shape and dt == str(want.dtype)
