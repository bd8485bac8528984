"""Conv's NumPy reference against onnxruntime where Conv's CASES don't reach (auto_pad, 1-D and 3-D convs; the
cases themselves: tests/ops/test_reference_vs_onnxruntime.py), fresh random inputs."""
import numpy as np
import pytest

from pymace.ops import conv
from pymace.ops.base import TensorInfo
from tests.helpers import ort_run


def assert_close(got, want, tol=1e-5):
    assert got.shape == want.shape
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=tol * np.abs(want).max(), rtol=0)


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
    assert_close(got, ort_run("Conv", arrays, attrs, opset=13)[0])
    assert conv.infer(TensorInfo(x), TensorInfo(arrays[1].shape), _op_type="Conv", **attrs)[0][0] == got.shape
