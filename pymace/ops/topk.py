"""TopK: the K largest (or smallest) elements along `axis` and their indices, in order (ties: the lower index
first, as ONNX specifies). K is input 1, as in ONNX, and must be a constant. On the device each work-item takes
one element, counts the elements of its row that rank before it, and writes itself there if that rank is < K:
one launch, O(n²) comparisons per row of n, and no sort state to keep."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import Case, Ints, TensorInfo, elem_options

OP_TYPES = ("TopK",)


def _k(k: TensorInfo | np.ndarray | None) -> int:
    value = k.value if isinstance(k, TensorInfo) else k
    if value is None:
        raise ConvertError("TopK: K must be a constant (the output shape is planned before the run)")
    value = np.asarray(value)
    if value.size != 1 or value.dtype.kind not in "iu":
        raise ConvertError(f"TopK: K must be one integer, got {value.dtype} of shape {list(value.shape)}")
    return int(value.reshape(()))


def infer(x: TensorInfo, k: TensorInfo | None = None, _op_type: str = "TopK", axis: int = -1, **_) -> list:
    rank = len(x.shape)
    if not -rank <= int(axis) < rank:
        raise ConvertError(f"TopK: axis {axis} is out of range for rank {rank}")
    a, count = int(axis) % rank, _k(k)
    if not 0 <= count <= x.shape[a]:
        raise ConvertError(f"TopK: K={count} is outside 0..{x.shape[a]} (the size of axis {a})")
    shape = tuple(x.shape[:a]) + (count,) + tuple(x.shape[a + 1:])
    return [(shape, x.dtype), (shape, "int64")]


def _sort_key(x: np.ndarray, largest: int) -> np.ndarray:
    """Ascending order of the key is the output order; ~x reverses integers without overflow."""
    if not largest:
        return x
    return -x if x.dtype.kind == "f" else ~x


def reference(x, k, _op_type: str = "TopK", axis: int = -1, largest: int = 1, sorted: int = 1, **_):
    a, count = int(axis) % x.ndim, _k(k)
    order = np.argsort(_sort_key(x, largest), axis=a, kind="stable")
    indices = np.take(order, np.arange(count), axis=a)
    return [np.take_along_axis(x, indices, axis=a), indices.astype(np.int64)]


def launch(ctx, _op_type: str = "TopK", axis: int = -1, largest: int = 1, **_) -> None:
    x, values, indices = ctx.inputs[0], ctx.outputs[0], ctx.outputs[1]
    n = int(np.prod(x.shape, dtype=np.int64))
    count = values.shape[int(axis) % len(x.shape)]
    if n == 0 or count == 0:
        return
    a = int(axis) % len(x.shape)
    inner = int(np.prod(x.shape[a + 1:], dtype=np.int64))
    args = [x, values, indices, *map(np.int32, (n, x.shape[a], inner, count))]
    ctx.kernel("topk", "topk_rank", (n,), args, options=(*elem_options(x.dtype), f"-DLARGEST={int(bool(largest))}"))


CASES = [
    Case("last_axis", [(3, 10), np.array([4], np.int64)], {"axis": -1}, consts=(1,)),
    Case("axis1_smallest", [(2, 7, 5), np.array([3], np.int64)], {"axis": 1, "largest": 0}, consts=(1,)),
    Case("axis0_all", [(6, 4), np.array([6], np.int64)], {"axis": 0}, consts=(1,)),
    Case("ints_with_ties", [Ints((4, 9), -3, 3), np.array([5], np.int64)], {"axis": 1}, consts=(1,)),
    Case("long_row", [(2, 300), np.array([10], np.int64)], {"axis": 1}, consts=(1,)),
]
