"""Pad's reference and shape inference against onnxruntime: every mode, pads on some or all axes, negative
pads (cropping)."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import helper

from pymace.ops import pad
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


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
@pytest.mark.parametrize("shape,pads,axes", [
    ((1, 3, 5, 7), [0, 0, 1, 2, 0, 0, 3, 1], None),
    ((2, 7, 9), [0, 1, 4, 0, 2, 3], None),
    ((1, 6, 4, 4), [0, 2, 0, 0, 0, 3, 0, 0], None),
    ((5, 9), [2, 3], [-1]),
    ((1, 2, 3, 4, 5), [1, 1, 0, 1, 1, 4], [1, 3, 4]),
    ((1, 3, 8, 9), [0, 0, -2, 1, 0, 0, 1, -3], None),
])
def test_matches_onnxruntime(mode, shape, pads, axes):
    x = np.random.default_rng(len(shape)).standard_normal(shape).astype(np.float32)
    value = np.float32(0.625)
    onnx_inputs = [x, np.array(pads, np.int64), np.array(value) if mode == "constant" else None]
    if axes is not None:
        onnx_inputs.append(np.array(axes, np.int64))
    (want,) = ort_run("Pad", onnx_inputs, {"mode": mode}, opset=19)
    attrs = {"pads": pads, "mode": mode, "value": float(value), "axes": axes, "_op_type": "Pad"}
    (got,) = pad.reference(x, **attrs)
    np.testing.assert_array_equal(got, want)
    (out_shape, dtype), = pad.infer(TensorInfo(x.shape, str(x.dtype)), **attrs)
    assert got.dtype == want.dtype and out_shape == want.shape and dtype == str(want.dtype)


def test_int64_constant():
    x = np.random.default_rng(2).integers(-50, 50, (3, 4), dtype=np.int64)
    (want,) = ort_run("Pad", [x, np.array([1, 0, 2, 3], np.int64), np.array(7, np.int64)], {})
    np.testing.assert_array_equal(pad.reference(x, pads=[1, 0, 2, 3], value=7, _op_type="Pad")[0], want)
