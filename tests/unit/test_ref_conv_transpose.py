"""ConvTranspose's NumPy reference against onnxruntime where its CASES don't reach (output_shape, auto_pad,
defaults, 1-D and 3-D; the cases themselves: tests/ops/test_reference_vs_onnxruntime.py), fresh random inputs."""
import numpy as np
import pytest

from pymace.ops import conv_transpose
from pymace.ops.base import TensorInfo
from tests.helpers import ort_run

ONNX_ATTRS = ("kernel_shape", "strides", "pads", "dilations", "group", "auto_pad", "output_padding",
              "output_shape")


def check(arrays, attrs):
    got = conv_transpose.reference(*arrays, _op_type="ConvTranspose", **attrs)[0]
    want = ort_run("ConvTranspose", arrays, {k: v for k, v in attrs.items() if k in ONNX_ATTRS}, opset=13)[0]
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max(), rtol=0)
    shapes = [TensorInfo(a.shape) for a in arrays[:2]]
    assert conv_transpose.infer(*shapes, _op_type="ConvTranspose", **attrs)[0][0] == got.shape


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
