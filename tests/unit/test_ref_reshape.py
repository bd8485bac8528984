"""Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout: references and shape inference against
onnxruntime, float and int64 (the frontends fold shape arithmetic through them)."""
import numpy as np
import pytest

from pymace.ops import reshape
from pymace.ops.base import TensorInfo
from tests.helpers import ort_run

I64 = np.int64
CASES = [  # op, input shape, IR attributes, extra ONNX inputs, ONNX attributes
    ("Reshape", (2, 3, 5, 7), {"shape": [0, -1, 7]}, [np.array([0, -1, 7], I64)], {}),
    ("Reshape", (2, 6, 4), {"shape": [2, 3, 2, 2, 2]}, [np.array([2, 3, 2, 2, 2], I64)], {}),
    ("Reshape", (4, 0, 3), {"shape": [0, 5], "allowzero": 1}, [np.array([0, 5], I64)], {"allowzero": 1}),
    ("Reshape", (3, 4), {"shape": [-1]}, [np.array([-1], I64)], {}),
    ("Flatten", (2, 3, 5, 7), {"axis": 2}, [], {"axis": 2}),
    ("Flatten", (3, 5, 7), {"axis": -1}, [], {"axis": -1}),
    ("Flatten", (3, 5), {"axis": 0}, [], {"axis": 0}),
    ("Squeeze", (1, 3, 1, 5), {"axes": [0, -2]}, [np.array([0, -2], I64)], {}),
    ("Squeeze", (1, 7, 1, 1), {}, [], {}),
    ("Unsqueeze", (3, 5), {"axes": [0, -1]}, [np.array([0, -1], I64)], {}),
    ("Unsqueeze", (3, 5), {"axes": [3, 1]}, [np.array([3, 1], I64)], {}),
    ("Identity", (2, 3, 5), {}, [], {}),
    ("Dropout", (1, 9, 4, 4), {"ratio": 0.3}, [np.array(0.3, np.float32)], {}),
]


PARAMS = [(*c, t) for c in CASES for t in (np.float32, np.int64) if c[0] != "Dropout" or t == np.float32]


@pytest.mark.parametrize("op,shape,attrs,extra,onnx_attrs,dtype", PARAMS,
                         ids=[f"{p[0]}-{k}-{p[-1].__name__}" for k, p in enumerate(PARAMS)])
def test_matches_onnxruntime(op, shape, attrs, extra, onnx_attrs, dtype):
    x = (np.random.default_rng(len(shape)).standard_normal(shape) * 100).astype(dtype)
    (want,) = ort_run(op, [x] + extra, onnx_attrs)
    got = reshape.reference(x, _op_type=op, **attrs)
    np.testing.assert_array_equal(got[0], want)
    (out_shape, out_dtype), = reshape.infer(TensorInfo(x.shape, str(x.dtype)), _op_type=op, **attrs)
    assert got[0].dtype == want.dtype and out_shape == want.shape and out_dtype == str(want.dtype)


def test_dropout_mask_is_all_true():
    x = np.random.default_rng(9).standard_normal((2, 5)).astype(np.float32)
    _, mask = reshape.reference(x, ratio=0.5, _op_type="Dropout")
    assert mask.dtype == bool and mask.shape == x.shape and mask.all()


def test_alias_module():
    assert reshape.ALIAS and set(reshape.OP_TYPES) == {c[0] for c in CASES}
