"""Gather (take whole slices along `axis` at the given indices) and GatherElements (take one element per index
along `axis`; the output has the indices' shape). Indices may be negative (counted from the end) and may be a
constant or a run-time tensor (int32 on the device, docs/ir.md). Constant indices are checked at conversion; on
the device an index outside the axis is clamped to it, so a bad run-time index reads a wrong element, never
outside the buffer (the reference executor refuses it)."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError, InputError
from .base import Case, Const, Ints, TensorInfo, elem_options

OP_TYPES = ("Gather", "GatherElements")


def _axis(axis: int, rank: int, op: str) -> int:
    if not -rank <= int(axis) < rank:
        raise ConvertError(f"{op}: axis {axis} is out of range for rank {rank}")
    return int(axis) % rank


def _check_indices(indices: np.ndarray, dim: int, op: str, error=ConvertError) -> None:
    if indices.size and (indices.min() < -dim or indices.max() >= dim):
        bad = indices[(indices < -dim) | (indices >= dim)].reshape(-1)[0]
        raise error(f"{op}: index {bad} is out of range for an axis of size {dim}")


def infer(data: TensorInfo, indices: TensorInfo, _op_type: str = "Gather", axis: int = 0, **_) -> list:
    rank = len(data.shape)
    if rank == 0:
        raise ConvertError(f"{_op_type}: data must have rank >= 1, got a scalar")
    if np.dtype(indices.dtype).kind not in "iu":
        raise ConvertError(f"{_op_type}: indices must be integers, got {indices.dtype}")
    a = _axis(axis, rank, _op_type)
    if indices.value is not None:
        _check_indices(np.asarray(indices.value), data.shape[a], _op_type)
    if _op_type == "Gather":
        return [(tuple(data.shape[:a]) + tuple(indices.shape) + tuple(data.shape[a + 1:]), data.dtype)]
    if len(indices.shape) != rank:
        raise ConvertError(f"GatherElements: indices have rank {len(indices.shape)}, data rank {rank}")
    if any(i > d for k, (i, d) in enumerate(zip(indices.shape, data.shape)) if k != a):
        raise ConvertError(f"GatherElements: indices shape {list(indices.shape)} exceeds data shape "
                           f"{list(data.shape)} off the axis")
    return [(tuple(indices.shape), data.dtype)]


def reference(data, indices, _op_type: str = "Gather", axis: int = 0, **_) -> list[np.ndarray]:
    a = _axis(axis, data.ndim, _op_type)
    indices = np.asarray(indices).astype(np.int64)
    _check_indices(indices, data.shape[a], _op_type, InputError)
    indices = np.where(indices < 0, indices + data.shape[a], indices)
    if _op_type == "Gather":
        return [np.take(data, indices, axis=a)]
    # ONNX lets the indices be shorter than the data off the axis: they address its leading part
    lead = tuple(slice(None) if k == a else slice(0, d) for k, d in enumerate(indices.shape))
    return [np.take_along_axis(data[lead], indices, axis=a)]


def launch(ctx, _op_type: str = "Gather", axis: int = 0, **_) -> None:
    data, indices, y = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]
    n = int(np.prod(y.shape, dtype=np.int64))
    if n == 0:
        return
    a = int(axis) % len(data.shape)
    opts = elem_options(data.dtype)
    if _op_type == "Gather":
        inner = int(np.prod(data.shape[a + 1:], dtype=np.int64))
        count = int(np.prod(indices.shape, dtype=np.int64))
        args = [data, indices, y, *map(np.int32, (n, data.shape[a], inner, count))]
        ctx.kernel("gather", "gather", (n,), args, options=opts)
        return
    strides = np.cumprod((1,) + tuple(data.shape[:0:-1]))[::-1]
    table = Const(np.array(list(y.shape) + list(strides), np.int32))
    args = [data, indices, y, table, *map(np.int32, (n, a, data.shape[a]))]
    ctx.kernel("gather", "gather_elements", (n,), args, options=(*opts, f"-DRANK={len(y.shape)}"))


CASES = [
    Case("axis0_const_indices", [(5, 4, 3), Ints((2, 3), -5, 5)], {"axis": 0}, consts=(1,)),
    Case("axis1_runtime_indices", [(2, 6, 3), Ints((4,), -6, 6)], {"axis": 1}),
    Case("last_axis_scalar_index", [(3, 4, 7), Ints((), -7, 7)], {"axis": -1}),
    Case("embedding_lookup", [(50, 16), Ints((2, 5), 0, 50)], {"axis": 0}, consts=(0,)),
    Case("int_data", [Ints((6, 5), -1000, 1000), Ints((3, 2), -5, 5)], {"axis": 1}),
    Case("class_token", [(2, 197, 8), Ints((), 0, 1)], {"axis": 1}, consts=(1,)),
    Case("elements_axis0", [(4, 5), Ints((3, 5), -4, 4)], {"axis": 0}, op_type="GatherElements"),
    Case("elements_negative_axis", [(2, 3, 6), Ints((2, 2, 4), -6, 6)], {"axis": -1}, op_type="GatherElements"),
    Case("elements_const_rank4", [(2, 3, 4, 5), Ints((1, 3, 2, 5), -4, 4)], {"axis": 2}, consts=(1,),
         op_type="GatherElements"),
]
