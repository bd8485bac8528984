"""Transpose's reference and shape inference against onnxruntime: random permutations of rank 1 to 6."""
import numpy as np
import pytest

from pymace.ops import transpose
from pymace.ops.base import TensorInfo
from tests.helpers import ort_run


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
