"""Expand (broadcast to a shape, numpy rules) and Tile (repeat along each axis). Both read output element
`(i_0 … i_r)` from input element `(i_0 mod d_0 … i_r mod d_r)` (a broadcast axis has d = 1), so one kernel serves
both. The target `shape` / `repeats` stay inputs, as in ONNX, and must be constants: the output shape is planned."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import Case, Const, Ints, TensorInfo, elem_options

OP_TYPES = ("Expand", "Tile")


def _param(t: TensorInfo | None, op: str, what: str) -> list[int]:
    if t is None or t.value is None:
        raise ConvertError(f"{op}: {what} must be a constant (the output shape is planned before the run)")
    value = np.asarray(t.value)
    if value.ndim != 1 or value.dtype.kind not in "iu":
        raise ConvertError(f"{op}: {what} must be a 1-D integer tensor, got {value.dtype} of shape {value.shape}")
    return [int(v) for v in value]


def out_shape(shape: tuple[int, ...], param: list[int], op: str) -> tuple[int, ...]:
    if op == "Tile":
        if len(param) != len(shape) or any(r < 0 for r in param):
            raise ConvertError(f"Tile: repeats {param} must give one count >= 0 per axis of the rank-{len(shape)} "
                               "input")
        return tuple(d * r for d, r in zip(shape, param))
    try:
        return tuple(np.broadcast_shapes(tuple(shape), tuple(param)))
    except ValueError:
        raise ConvertError(f"Expand: shape {param} does not broadcast with the input's {list(shape)}") from None


def infer(x: TensorInfo, param: TensorInfo | None = None, _op_type: str = "Expand", **_) -> list:
    what = "repeats" if _op_type == "Tile" else "shape"
    return [(out_shape(tuple(x.shape), _param(param, _op_type, what), _op_type), x.dtype)]


def reference(x, param, _op_type: str = "Expand", **_) -> list[np.ndarray]:
    if _op_type == "Tile":
        return [np.tile(x, [int(r) for r in param])]
    return [np.broadcast_to(x, out_shape(x.shape, [int(d) for d in param], "Expand")).copy()]


def launch(ctx, _op_type: str = "Expand", **_) -> None:
    x, y = ctx.inputs[0], ctx.outputs[0]
    n = int(np.prod(y.shape, dtype=np.int64))
    if n == 0:
        return
    out_dims = tuple(y.shape) or (1,)  # a scalar runs as one element of rank 1
    in_dims = (1,) * (len(out_dims) - len(x.shape)) + tuple(x.shape)
    strides = np.cumprod((1,) + in_dims[:0:-1])[::-1]
    table = Const(np.array([*out_dims, *in_dims, *strides], np.int32))
    ctx.kernel("tile", "tile", (n,), [x, y, table, np.int32(n)],
               options=(*elem_options(x.dtype), f"-DRANK={len(out_dims)}"))


CASES = [
    Case("expand_rank_up", [(3, 1), np.array([2, 3, 4], np.int64)], consts=(1,)),
    Case("expand_ones_in_shape", [(2, 1, 5), np.array([1, 4, 1], np.int64)], consts=(1,)),
    Case("expand_class_token", [(1, 1, 8), np.array([3, 1, 8], np.int64)], consts=(1,)),
    Case("expand_ints", [Ints((1, 4), -50, 50), np.array([3, 1], np.int64)], consts=(1,)),
    Case("tile_rank3", [(2, 3, 4), np.array([2, 1, 3], np.int64)], consts=(1,), op_type="Tile"),
    Case("tile_rank1", [(5,), np.array([4], np.int64)], consts=(1,), op_type="Tile"),
    Case("tile_ints_rank4", [Ints((1, 2, 3, 2), 0, 9), np.array([2, 2, 1, 3], np.int64)], consts=(1,),
         op_type="Tile"),
]
