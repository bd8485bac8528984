"""Split's reference and shape inference against onnxruntime (single-node models, random inputs)."""
import numpy as np
import pytest

from pymace.errors import ConvertError
from pymace.ops import split
from pymace.ops.base import TensorInfo
from tests.helpers import ort_run


@pytest.mark.parametrize("shape,axis,sizes", [
    ((1, 9, 5, 7), 1, [2, 3, 4]),
    ((2, 3, 4, 11), -1, [5, 6]),
    ((7, 5), 0, [1, 6]),
    ((1, 6, 3, 3), 1, [2, 0, 4]),
    ((2, 3, 7, 2, 3), 2, [7]),
])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_sizes_match_onnxruntime(shape, axis, sizes, dtype):
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * 100).astype(dtype)
    got = split.reference(x, axis=axis, split=sizes, _op_type="Split")
    want = ort_run("Split", [x, np.array(sizes, np.int64)], {"axis": axis}, n_outputs=len(sizes))
    check(x, got, want, axis=axis, split=sizes)


@pytest.mark.parametrize("shape,axis,n", [((2, 3, 7, 2), 2, 3), ((10, 3), 0, 4), ((4, 9), -1, 3), ((1, 5), 1, 5)])
def test_num_outputs_matches_onnxruntime(shape, axis, n):
    x = np.random.default_rng(n).standard_normal(shape).astype(np.float32)
    got = split.reference(x, axis=axis, num_outputs=n, _op_type="Split")
    want = ort_run("Split", [x], {"axis": axis, "num_outputs": n}, n_outputs=n)
    check(x, got, want, axis=axis, num_outputs=n)


def check(x, got, want, **attrs):
    assert len(got) == len(want)
    infos = split.infer(TensorInfo(x.shape, str(x.dtype)), _op_type="Split", **attrs)
    for g, w, (shape, dtype) in zip(got, want, infos, strict=True):
        np.testing.assert_array_equal(g, w)
        assert g.dtype == w.dtype and shape == w.shape and dtype == str(w.dtype)


def test_without_sizes_is_a_clear_error():
    x = np.random.default_rng(3).standard_normal((2, 4)).astype(np.float32)
    with pytest.raises(ConvertError, match="num_outputs"):
        split.reference(x, axis=1, _op_type="Split")
