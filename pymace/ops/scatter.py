"""ScatterND (write `updates` at the index tuples of `indices`, each addressing a slice of the data's trailing
dims) and ScatterElements (write one element per index along `axis`, at the index's coordinates otherwise). The
output is a copy of the data with the updates written; `reduction` combines instead of replacing (none, add, mul,
max, min). Indices may be negative and may be a run-time tensor (int32 on the device, docs/ir.md); constant ones
are checked at conversion, run-time ones clamped to their axis on the device. Exports build attention masks this
way (Swin's shifted windows), usually from constants that conversion folds. On the device: reduction none (the
order of duplicate indices is unspecified, as in ONNX)."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError, InputError
from .base import Case, Const, Ints, TensorInfo, elem_options
from .gather import _axis, _check_indices

OP_TYPES = ("ScatterND", "ScatterElements")
REDUCE = {"none": None, "add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def _text(v):
    return v.decode() if isinstance(v, bytes) else v


def _reduction(reduction) -> str:
    if _text(reduction) not in REDUCE:
        raise ConvertError(f"reduction {reduction!r} is not one of {', '.join(REDUCE)}")
    return _text(reduction)


def _check_nd(data, indices, updates, error=ConvertError) -> int:
    q, k = len(indices.shape), indices.shape[-1] if indices.shape else 0
    if q < 1 or not 1 <= k <= len(data.shape):
        raise error(f"ScatterND: indices of shape {list(indices.shape)} for data of rank {len(data.shape)}")
    want = tuple(indices.shape[:-1]) + tuple(data.shape[k:])
    if tuple(updates.shape) != want:
        raise error(f"ScatterND: updates have shape {list(updates.shape)}, expected {list(want)}")
    return k


def infer(data: TensorInfo, indices: TensorInfo, updates: TensorInfo, _op_type: str = "ScatterND", axis: int = 0,
          reduction="none", **_) -> list:
    _reduction(reduction)
    if np.dtype(indices.dtype).kind not in "iu":
        raise ConvertError(f"{_op_type}: indices must be integers, got {indices.dtype}")
    if updates.dtype != data.dtype:
        raise ConvertError(f"{_op_type}: updates are {updates.dtype}, data {data.dtype}")
    if _op_type == "ScatterND":
        k = _check_nd(data, indices, updates)
        if indices.value is not None:
            for d in range(k):
                _check_indices(np.asarray(indices.value)[..., d], data.shape[d], _op_type)
        return [(tuple(data.shape), data.dtype)]
    a = _axis(axis, len(data.shape), _op_type)
    if tuple(indices.shape) != tuple(updates.shape) or len(indices.shape) != len(data.shape):
        raise ConvertError(f"ScatterElements: indices {list(indices.shape)} and updates {list(updates.shape)} must "
                           f"have one shape, of the data's rank {len(data.shape)}")
    if any(i > d for k, (i, d) in enumerate(zip(indices.shape, data.shape)) if k != a):
        raise ConvertError(f"ScatterElements: indices shape {list(indices.shape)} exceeds data shape "
                           f"{list(data.shape)} off the axis")
    if indices.value is not None:
        _check_indices(np.asarray(indices.value), data.shape[a], _op_type)
    return [(tuple(data.shape), data.dtype)]


def _positions(data, indices, _op_type, axis) -> tuple:
    """The index arrays (numpy fancy indexing) every update is written to."""
    indices = np.asarray(indices).astype(np.int64)
    if _op_type == "ScatterND":
        k = _check_nd(data, indices, np.empty(indices.shape[:-1] + data.shape[indices.shape[-1]:]), InputError)
        cols = [indices[..., d] for d in range(k)]
        for d, c in enumerate(cols):
            _check_indices(c, data.shape[d], _op_type, InputError)
        return tuple(np.where(c < 0, c + data.shape[d], c) for d, c in enumerate(cols))
    a = _axis(axis, data.ndim, _op_type)
    _check_indices(indices, data.shape[a], _op_type, InputError)
    grid = list(np.indices(indices.shape, sparse=True))
    grid[a] = np.where(indices < 0, indices + data.shape[a], indices)
    return tuple(grid)


def reference(data, indices, updates, _op_type: str = "ScatterND", axis: int = 0, reduction="none", **_):
    out = np.array(data, copy=True)
    where = _positions(data, indices, _op_type, axis)
    combine = REDUCE[_reduction(reduction)]
    if combine is None:
        out[where] = updates
    else:  # unbuffered: duplicate indices each combine
        combine.at(out, where, updates)
    return [out]


def launch(ctx, _op_type: str = "ScatterND", axis: int = 0, reduction="none", **_) -> None:
    data, indices, updates, y = ctx.inputs[0], ctx.inputs[1], ctx.inputs[2], ctx.outputs[0]
    if _reduction(reduction) != "none":
        raise ConvertError(f"node {ctx.node.name!r} ({_op_type}): reduction {reduction!r} runs only at conversion "
                           "(constant inputs); on the device only reduction none")
    n, count = (int(np.prod(t.shape, dtype=np.int64)) for t in (y, updates))
    opts = elem_options(data.dtype)
    if n:
        ctx.kernel("scatter", "copy_elements", (n,), [data, y, np.int32(n)], options=opts)
    if count == 0:
        return
    strides = np.cumprod((1,) + tuple(data.shape[:0:-1]))[::-1]
    if _op_type == "ScatterND":
        k = indices.shape[-1]
        inner = int(np.prod(data.shape[k:], dtype=np.int64))
        table = Const(np.array([*data.shape[:k], *strides[:k]], np.int32))
        args = [indices, updates, y, table, *map(np.int32, (count, inner))]
        ctx.kernel("scatter", "scatter_nd", (count,), args, options=(*opts, f"-DK={k}"))
        return
    table = Const(np.array([*updates.shape, *strides], np.int32))
    a = int(axis) % len(data.shape)
    args = [indices, updates, y, table, *map(np.int32, (count, a, data.shape[a]))]
    ctx.kernel("scatter", "scatter_elements", (count,), args, options=(*opts, f"-DRANK={len(data.shape)}"))


def _unique_rows(rows: int, dims: tuple[int, ...]) -> np.ndarray:
    """`rows` distinct index tuples into `dims` (duplicates would make the written value unspecified)."""
    flat = np.random.default_rng(rows).permutation(int(np.prod(dims)))[:rows]
    return np.stack(np.unravel_index(flat, dims), axis=-1).astype(np.int64)


CASES = [
    Case("nd_rows", [(5, 4, 3), _unique_rows(3, (5,)) - 5, (3, 4, 3)]),
    Case("nd_elements_const", [(4, 6), _unique_rows(5, (4, 6)).reshape(5, 2), (5,)], consts=(1,)),
    Case("nd_runtime_2d_indices", [(3, 4, 5), _unique_rows(4, (3, 4)).reshape(2, 2, 2), (2, 2, 5)]),
    Case("nd_ints", [Ints((6, 3), -9, 9), _unique_rows(2, (6,)), Ints((2, 3), -9, 9)]),
    Case("elements_axis1", [(3, 7), np.stack([np.random.default_rng(k).permutation(7)[:4] for k in range(3)]),
                            (3, 4)], {"axis": 1}, op_type="ScatterElements"),
    Case("elements_negative_axis_const", [(2, 3, 5), np.argsort(np.random.default_rng(9).random((2, 3, 5)))[..., :2]
                                          - 5, (2, 3, 2)], {"axis": -1}, consts=(1,), op_type="ScatterElements"),
]
