"""Every shape function checks its inputs and attributes: a bad one is a ConvertError that names the op, never
a wrong shape (which a kernel would then read or write out of bounds) and never another exception."""
import numpy as np
import pytest

from pymace import ops
from pymace.errors import ConvertError
from pymace.ops.base import TensorInfo


def T(*shape, dtype="float32"):
    return TensorInfo(tuple(shape), dtype)


def C(array):
    array = np.asarray(array, np.float32)
    return TensorInfo(array.shape, "float32", array)


BAD = [
    ("Concat", [T(1, 4), T(1, 4)], {"axis": 7}),
    ("Concat", [T(1, 4), T(1, 4)], {"axis": -3}),
    ("Concat", [T(1, 4, 2), T(2, 4, 2)], {"axis": 1}),
    ("Concat", [T(1, 4), T(1, 4, 1)], {"axis": 1}),
    ("Concat", [T(1, 4), T(1, 4, dtype="int64")], {"axis": 1}),
    ("Split", [T(1, 4)], {"axis": 1, "split": [6, -2]}),
    ("Split", [T(1, 4)], {"axis": 1, "split": [1, 2]}),
    ("Split", [T(1, 4)], {"axis": 2, "split": [2, 2]}),
    ("Split", [T(1, 4)], {"axis": 1, "num_outputs": 0}),
    ("Split", [T(1, 4)], {"axis": 1, "split": "ab"}),
    ("Slice", [T(3, 4)], {"starts": [0], "ends": [2], "axes": [2]}),
    ("Slice", [T(3, 4)], {"starts": [0, 0], "ends": [2, 2], "axes": [1, 1]}),
    ("Slice", [T(3, 4)], {"starts": [0], "ends": [2], "axes": [0], "steps": [0]}),
    ("Slice", [T(3, 4)], {"starts": [0, 1], "ends": [2], "axes": [0]}),
    ("Pad", [T(1, 3)], {"pads": [0, -2, 0, -2]}),
    ("Pad", [T(1, 3)], {"pads": [0, 1, 0]}),
    ("Pad", [T(1, 3)], {"pads": [0, -3, 0, 2], "mode": "edge"}),
    ("Pad", [T(1, 3)], {"pads": [0, -3, 0, 2], "mode": "wrap"}),
    ("Pad", [T(1, 3)], {"pads": [0, 1, 0, 1], "mode": "evil"}),
    ("Pad", [T(1, 3)], {"pads": [0, 1, 0, 1], "value": "x"}),
    ("Pad", [T(1, 3)], {"pads": [1, 1], "axes": [5]}),
    ("Reshape", [T(2, 4)], {"shape": [3, 3]}),
    ("Reshape", [T(2, 4)], {"shape": [-1, -1]}),
    ("Reshape", [T(2, 4)], {"shape": [-2, 4]}),
    ("Reshape", [T(2, 4)], {"shape": [0, 0, 0]}),
    ("Reshape", [T(2, 4)], {"shape": [3, -1]}),
    ("Reshape", [T(0, 4)], {"shape": [-1, 0], "allowzero": 1}),
    ("Flatten", [T(2, 4)], {"axis": 3}),
    ("Squeeze", [T(2, 4)], {"axes": [0]}),
    ("Squeeze", [T(1, 4)], {"axes": [2]}),
    ("Unsqueeze", [T(2, 4)], {"axes": [0, 0]}),
    ("Unsqueeze", [T(2, 4)], {"axes": [4]}),
    ("Transpose", [T(1, 4, 2)], {"perm": [0, 0, 1]}),
    ("Transpose", [T(1, 4, 2)], {"perm": [0, 1]}),
    ("Transpose", [T(1, 4, 2)], {"perm": [0, 1, 3]}),
    ("Resize", [T(1, 1, 4, 4)], {"scales": [1, 1, 0, 2]}),
    ("Resize", [T(1, 1, 4, 4)], {"scales": [1, 1, float("inf"), 2]}),
    ("Resize", [T(1, 1, 4, 4)], {"scales": [1, 1, 2]}),
    ("Resize", [T(1, 1, 4, 4)], {"sizes": [1, 1, -8, 8]}),
    ("Resize", [T(1, 1, 0, 4)], {"sizes": [1, 1, 8, 8]}),
    ("Resize", [T(1, 1, 4, 4)], {"scales": [1, 1, 2, 2], "mode": "cubic"}),
    ("Resize", [T(1, 1, 4, 4)], {"scales": [1, 1, 2, 2], "coordinate_transformation_mode": "evil"}),
    ("Resize", [T(1, 1, 4, 4)], {"scales": [1, 1, 2, 2], "nearest_mode": "evil"}),
    ("Resize", [T(1, 1, 4, 4)], {"scales": [2, 2], "axes": [2, 2]}),
    ("Resize", [T(1, 1, 4, 4)], {}),
    ("BatchNormalization", [T(1, 3, 4, 4), C(np.ones(4)), C(np.ones(3)), C(np.ones(3)), C(np.ones(3))], {}),
    ("BatchNormalization", [T(1, 3, 4, 4), C(np.ones(3)), C(np.ones(3)), C(np.ones(3))], {}),
    ("BatchNormalization", [T(3), C(np.ones(3)), C(np.ones(3)), C(np.ones(3)), C(np.ones(3))], {}),
    ("BatchNormalization", [T(1, 3, 2), *[C(np.ones(3))] * 4, C(np.ones(2))], {"activation": "PRelu"}),
    ("BatchNormalization", [T(1, 3, 2), *[C(np.ones(3))] * 4], {"epsilon": []}),  # .pmace fuzz case 7569
    ("BatchNormalization", [T(1, 3, 2), *[C(np.ones(3))] * 4], {"epsilon": float("nan")}),
    ("Gemm", [T(1, 4), C(np.ones((5, 3)))], {}),  # K mismatch: converted and ran with exit 0 (study §1)
    ("Gemm", [T(1, 4), C(np.ones((3, 5)))], {"transB": 1}),
    ("Gemm", [T(4, 1), C(np.ones((5, 3)))], {"transA": 1}),
    ("MatMul", [T(1, 4), C(np.ones((5, 3)))], {}),
    ("MatMul", [T(2, 1, 4), T(3, 4, 2)], {}),  # batch dims that do not broadcast
    ("Gemm", [T(1, 4), C(np.ones((4, 3)))], {"beta": None}),  # .pmace fuzz case 10585
    ("Gemm", [T(1, 4), C(np.ones((4, 3)))], {"alpha": "2"}),
    ("Clip", [T(1, 4)], {"max": float("nan")}),  # ONNX/TFLite fuzz case 3535 (a NaN bound fused into a BN)
    ("Clip", [T(1, 4)], {"min": "0"}),
    ("Add", [T(1, 4), T(1, 3)], {}),
    ("Mul", [T(1, 4), T(1, 4, dtype="int8")], {}),
    ("Add", [T(1, 4, 2), T(1, 4, 2), C(np.ones(3))], {"activation": "PRelu"}),
    ("PRelu", [T(1, 4), C(np.ones((2, 4)))], {}),
    ("PRelu", [T(1, 4), C(np.ones(3))], {}),
]


@pytest.mark.parametrize("op_type,ins,attrs", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_inputs_are_convert_errors(op_type, ins, attrs):
    with pytest.raises(ConvertError) as e:
        ops.get(op_type).infer(*ins, _op_type=op_type, **attrs)
    assert op_type.split("Normalization")[0] in str(e.value) or op_type in ("Squeeze", "Unsqueeze")


GOOD = [  # the edges that stay valid
    ("Concat", [T(1, 4), T(1, 0)], {"axis": -1}, [(1, 4)]),
    ("Split", [T(1, 5)], {"axis": -1, "split": [5, 0]}, [(1, 5), (1, 0)]),
    ("Split", [T(1, 5)], {"axis": 1, "num_outputs": 2}, [(1, 3), (1, 2)]),
    ("Slice", [T(3, 4)], {"starts": [-100], "ends": [2**62], "axes": [-1], "steps": [-1]}, [(3, 0)]),
    ("Pad", [T(1, 3)], {"pads": [0, -3, 0, 0]}, [(1, 0)]),
    ("Pad", [T(1, 3)], {"pads": [0, -3, 0, 2]}, [(1, 2)]),
    ("Pad", [T(1, 3)], {"pads": [0, -1, 0, 4], "mode": "reflect"}, [(1, 6)]),
    ("Reshape", [T(0, 4)], {"shape": [-1, 4]}, [(0, 4)]),
    ("Reshape", [T(2, 4)], {"shape": [0, -1, 1]}, [(2, 4, 1)]),
    ("Flatten", [T(2, 3, 4)], {"axis": 3}, [(24, 1)]),
    ("Flatten", [T(2, 3, 4)], {"axis": -1}, [(6, 4)]),
    ("Unsqueeze", [T(2, 4)], {"axes": [-1, 0]}, [(1, 2, 4, 1)]),
    ("Resize", [T(1, 1, 4, 4)], {"sizes": [1, 1, 0, 8]}, [(1, 1, 0, 8)]),
    ("PRelu", [T(2, 3, 4), C(np.ones((3, 1)))], {}, [(2, 3, 4)]),
]


@pytest.mark.parametrize("op_type,ins,attrs,want", GOOD, ids=[f"{g[0]}-{i}" for i, g in enumerate(GOOD)])
def test_valid_edges_still_infer(op_type, ins, attrs, want):
    got = ops.get(op_type).infer(*ins, _op_type=op_type, **attrs)
    assert [tuple(s) for s, _ in got] == want
