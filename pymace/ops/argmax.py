"""ArgMax and ArgMin along one `axis` (keepdims, select_last_index): int64 indices, an int32 buffer on the device
(docs/ir.md). The tensor is viewed as (outer, K, inner) around the axis and each work-item scans one (outer,
inner) column. A NaN counts as the maximum and as the minimum, as NumPy's argmax/argmin have it."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import Case, TensorInfo, axis_index, need_dtype, uniform
from .binary import int_flag

OP_TYPES = ("ArgMax", "ArgMin")


def infer(x: TensorInfo, _op_type="ArgMax", axis=0, keepdims=1, select_last_index=0, **attrs):
    need_dtype(_op_type, x, "fiu")
    a = axis_index(axis, len(x.shape))
    if int(keepdims) not in (0, 1) or int(select_last_index) not in (0, 1):
        raise ConvertError(f"{_op_type}: keepdims and select_last_index must be 0 or 1")
    if x.shape[a] == 0:
        raise ConvertError(f"{_op_type}: axis {a} of shape {list(x.shape)} is empty")
    shape = list(x.shape)
    shape[a:a + 1] = [1] if keepdims else []
    return [(tuple(shape), "int64")]


def reference(x, _op_type="ArgMax", axis=0, keepdims=1, select_last_index=0, **attrs):
    find = np.argmax if _op_type == "ArgMax" else np.argmin
    if select_last_index:  # the first match in the reversed axis is the last one
        index = x.shape[axis] - 1 - find(np.flip(x, axis), axis=axis)
    else:
        index = find(x, axis=axis)
    return [np.expand_dims(index, axis).astype(np.int64) if keepdims else index.astype(np.int64)]


def launch(ctx, _op_type="ArgMax", axis=0, select_last_index=0, **attrs):
    x, y = ctx.inputs[0], ctx.outputs[0]
    axis = axis_index(axis, len(x.shape))
    outer, k, inner = int(np.prod(x.shape[:axis])), x.shape[axis], int(np.prod(x.shape[axis + 1:]))
    options = (f"-DARG_MIN={int(_op_type == 'ArgMin')}", f"-DLAST={int(select_last_index)}", int_flag("x", x))
    ctx.kernel("argmax", "argmax", (outer * inner,), [x, y, np.int32(k), np.int32(inner), np.int32(outer * inner)],
               options=options)


def _ties(shape):
    """Fresh small integers: many ties, so select_last_index matters; fp16 storage holds them exactly."""
    return lambda rng: rng.integers(-3, 4, shape).astype(np.float32)


CASES = [
    Case("axis0_default", [(5, 7, 3)]),
    Case("last_axis_no_keepdims", [(3, 4, 37)], attrs={"axis": -1, "keepdims": 0}),
    Case("channels_ties_first", [_ties((2, 9, 5, 5))], attrs={"axis": 1}),
    Case("channels_ties_last", [_ties((2, 9, 5, 5))], attrs={"axis": 1, "select_last_index": 1}),
    Case("classifier_row", [lambda rng: rng.permutation(1000).reshape(1, 1000).astype(np.float32) / 8],
         attrs={"axis": 1, "keepdims": 0}),
    Case("int_input", [uniform(-50, 50, (4, 6), np.int64)], attrs={"axis": 1}),
    Case("min_middle_axis", [(2, 3, 4, 5)], op_type="ArgMin", attrs={"axis": 2}),
    Case("min_ties_last_no_keepdims", [_ties((6, 11))], op_type="ArgMin",
         attrs={"axis": 0, "keepdims": 0, "select_last_index": 1}),
]
