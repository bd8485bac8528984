"""Pad's reference and shape inference against onnxruntime: every mode, pads on some or all axes, negative
pads (cropping)."""
import numpy as np
import pytest

from pymace.ops import pad
from pymace.ops.base import TensorInfo
from tests.helpers import ort_run


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
