"""Concat's reference and shape inference against onnxruntime (single-node models, random inputs)."""
import numpy as np
import pytest

from pymace.ops import concat
from pymace.ops.base import TensorInfo
from tests.helpers import ort_run


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
