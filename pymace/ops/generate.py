"""Ops that make values rather than read them: Shape (the input's dims, optionally `start`..`end`),
ConstantOfShape (a tensor filled with `value`) and Range (start, start + delta, … before limit). Their outputs
depend only on what conversion knows, so the constant-folding pass usually removes them; when a graph keeps one
(built by hand, or a future dynamic plan), a kernel writes the values on the device."""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConvertError
from .base import Case, Const, TensorInfo, elem_options

OP_TYPES = ("Shape", "ConstantOfShape", "Range")


def _fill_value(value=0.0, dtype: str | None = None) -> np.ndarray:
    """ConstantOfShape's `value`: the IR's number and `dtype`, or ONNX's one-element tensor."""
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise ConvertError(f"ConstantOfShape: value must have one element, got {value.size}")
        return value.reshape(())
    return np.array(value, dtype or "float32")


def _scalar(t: TensorInfo, what: str) -> float | int:
    if t.value is None:
        raise ConvertError(f"Range: {what} must be a constant (the output length is planned before the run)")
    if np.asarray(t.value).size != 1:
        raise ConvertError(f"Range: {what} must be a scalar, got shape {list(np.shape(t.value))}")
    return np.asarray(t.value).reshape(()).item()


def range_length(start, limit, delta) -> int:
    if delta == 0:
        raise ConvertError("Range: delta must not be 0")
    return max(int(math.ceil((limit - start) / delta)), 0)


def infer(*ins: TensorInfo, _op_type: str, start: int = 0, end: int | None = None, value=0.0, dtype=None,
          **_) -> list:
    if _op_type == "Shape":
        return [((len(range(len(ins[0].shape))[start:end]),), "int64")]
    if _op_type == "ConstantOfShape":
        shape = ins[0].value
        if shape is None:
            raise ConvertError("ConstantOfShape: the shape input must be a constant (the output is planned)")
        shape = np.asarray(shape)
        if shape.ndim != 1 or shape.dtype.kind not in "iu" or (shape < 0).any():
            raise ConvertError(f"ConstantOfShape: shape must be a 1-D tensor of sizes >= 0, got {shape.tolist()}")
        return [(tuple(int(d) for d in shape), str(_fill_value(value, dtype).dtype))]
    if len(ins) != 3 or any(t is None for t in ins):
        raise ConvertError("Range: needs start, limit and delta")
    s, lim, d = (_scalar(t, w) for t, w in zip(ins, ("start", "limit", "delta")))
    return [((range_length(s, lim, d),), ins[0].dtype)]


def reference(*xs, _op_type: str, start: int = 0, end: int | None = None, value=0.0, dtype=None,
              **_) -> list[np.ndarray]:
    if _op_type == "Shape":
        return [np.array(np.shape(xs[0])[start:end], np.int64)]
    if _op_type == "ConstantOfShape":
        fill = _fill_value(value, dtype)
        return [np.full(tuple(int(d) for d in xs[0]), fill, fill.dtype)]
    s, lim, d = (np.asarray(x).reshape(()).item() for x in xs)
    n = range_length(s, lim, d)
    return [(xs[0].reshape(()) + np.arange(n, dtype=np.int64).astype(xs[0].dtype) * xs[2].reshape(()))
            .astype(xs[0].dtype)]


def launch(ctx, _op_type: str, start: int = 0, end: int | None = None, value=0.0, dtype=None, **_) -> None:
    y = ctx.outputs[0]
    n = int(np.prod(y.shape, dtype=np.int64))
    if n == 0:
        return
    if _op_type == "Shape":
        dims = np.array(ctx.inputs[0].shape[start:end], np.int32)
        ctx.kernel("generate", "copy_ints", (n,), [Const(dims), y, np.int32(n)])
        return
    if _op_type == "ConstantOfShape":
        first, delta = _fill_value(value, dtype).item(), 0
    else:
        first, delta = (ctx.inputs[k].const.reshape(()).item() for k in (0, 2))
    opts = elem_options(y.dtype)
    scalar = np.int32 if opts else np.float32
    ctx.kernel("generate", "arithmetic_sequence", (n,), [y, scalar(first), scalar(delta), np.int32(n)],
               options=opts)


CASES = [
    Case("shape", [(2, 3, 5)], op_type="Shape"),
    Case("shape_start_end", [(2, 3, 5, 7)], {"start": 1, "end": -1}, op_type="Shape"),
    Case("constant_of_shape", [np.array([2, 3, 4], np.int64)], {"value": np.array([-2.5], np.float32)},
         consts=(0,), op_type="ConstantOfShape"),
    Case("constant_of_shape_int", [np.array([3, 5], np.int64)], {"value": np.array([7], np.int64)}, consts=(0,),
         op_type="ConstantOfShape"),
    Case("range_float", [(), np.array(9.0, np.float32), np.array(0.75, np.float32)], consts=(0, 1, 2),
         op_type="Range"),
    Case("range_int_negative", [np.array(20, np.int64), np.array(-7, np.int64), np.array(-3, np.int64)],
         consts=(0, 1, 2), op_type="Range"),
]
