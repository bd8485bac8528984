"""Split: cut a tensor along `axis` into pieces of `split` sizes, or into `num_outputs` pieces (the last one
smaller when the axis does not divide evenly, as ONNX opset 18 says). One launch copies out one output."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import Case, TensorInfo, check_axis, check_ints

OP_TYPES = ("Split",)


def sizes(dim: int, split=None, num_outputs: int | None = None) -> list[int]:
    """The pieces' sizes along the axis: `split` as given (checked: each >= 0, summing to `dim`), or
    `num_outputs` pieces of ceil(dim / num_outputs), the last one smaller."""
    if split is not None:
        pieces = check_ints(split, "Split", "sizes")
        if not pieces or any(s < 0 for s in pieces) or sum(pieces) != dim:
            raise ConvertError(f"Split sizes {pieces[:16]} must be >= 0 and sum to the axis' {dim}")
        return pieces
    if num_outputs is not None:
        if isinstance(num_outputs, bool) or not isinstance(num_outputs, (int, np.integer)) or \
                not 1 <= num_outputs <= max(dim, 1):
            raise ConvertError(f"Split num_outputs {str(num_outputs)[:20]} must be in [1, {max(dim, 1)}]")
        chunk = -(-dim // int(num_outputs))
        return [max(0, min(chunk, dim - k * chunk)) for k in range(int(num_outputs))]
    raise ConvertError("Split needs `split` sizes or `num_outputs` (the frontend sets them from the node)")


def infer(x: TensorInfo, axis: int = 0, split=None, num_outputs=None, _op_type: str = "Split", **_) -> list:
    axis = check_axis(axis, len(x.shape), "Split")
    pieces = sizes(x.shape[axis], split, num_outputs)
    return [(x.shape[:axis] + (s,) + x.shape[axis + 1:], x.dtype) for s in pieces]


def reference(x, axis: int = 0, split=None, num_outputs=None, _op_type: str = "Split", **_) -> list:
    bounds = np.cumsum(sizes(x.shape[axis], split, num_outputs))[:-1]
    return [np.ascontiguousarray(p) for p in np.split(x, bounds, axis=axis)]


def launch(ctx, axis: int = 0, _op_type: str = "Split", **_) -> None:
    in_shape = ctx.inputs[0].shape
    axis %= len(in_shape)
    inner = int(np.prod(in_shape[axis + 1:], dtype=np.int64))
    in_block = in_shape[axis] * inner  # elements of one outer row of the input
    offset = 0
    for ref in ctx.outputs:
        block = ref.shape[axis] * inner
        n = int(np.prod(ref.shape, dtype=np.int64))
        if n:
            args = [np.int32(v) for v in (block, in_block, offset, n)]
            ctx.kernel("split", "split_copy", (n,), [ctx.inputs[0], ref, *args])
        offset += block


CASES = [
    Case("channels_uneven", [(1, 9, 5, 7)], {"axis": 1, "split": [2, 3, 4]}),
    Case("negative_axis_last", [(2, 3, 4, 11)], {"axis": -1, "split": [5, 6]}),
    Case("axis0_rank2", [(7, 5)], {"axis": 0, "split": [1, 6]}),
    Case("rank5_num_outputs", [(2, 3, 7, 2, 3)], {"axis": 2, "num_outputs": 3}),
    Case("rank3_equal", [(3, 12, 5)], {"axis": -2, "split": [4, 4, 4]}),
    Case("with_empty_piece", [(1, 6, 3, 3)], {"axis": 1, "split": [2, 0, 4]}),
]
