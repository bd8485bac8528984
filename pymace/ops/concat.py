"""Concat: join tensors along `axis`. The kernel copies one input into its slice of the output per launch, so
any number of inputs needs no argument list of variable length."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import Case, TensorInfo, check_axis

OP_TYPES = ("Concat",)


def infer(*ins: TensorInfo, axis: int, _op_type: str = "Concat", **_) -> list:
    if not ins or any(t is None for t in ins):
        raise ConvertError("Concat needs every input")
    shape = list(ins[0].shape)
    axis = check_axis(axis, len(shape), "Concat")
    for t in ins[1:]:
        if len(t.shape) != len(shape) or any(a != b for k, (a, b) in enumerate(zip(t.shape, shape)) if k != axis):
            raise ConvertError(f"Concat inputs {[list(t.shape) for t in ins][:8]} differ off axis {axis}")
        if t.dtype != ins[0].dtype:
            raise ConvertError(f"Concat inputs of dtypes {ins[0].dtype} and {t.dtype}")
    shape[axis] = sum(t.shape[axis] for t in ins)
    return [(tuple(shape), ins[0].dtype)]


def reference(*xs: np.ndarray, axis: int, _op_type: str = "Concat", **_) -> list[np.ndarray]:
    return [np.concatenate(xs, axis=axis)]


def launch(ctx, axis: int, _op_type: str = "Concat", **_) -> None:
    out_shape = ctx.outputs[0].shape
    axis %= len(out_shape)
    inner = int(np.prod(out_shape[axis + 1:], dtype=np.int64))
    out_block = out_shape[axis] * inner  # elements of one outer row of the output
    offset = 0
    for ref in ctx.inputs:
        block = ref.shape[axis] * inner
        n = int(np.prod(ref.shape, dtype=np.int64))
        if n:  # an empty input contributes nothing
            args = [np.int32(v) for v in (block, out_block, offset, n)]
            ctx.kernel("concat", "concat_copy", (n,), [ref, ctx.outputs[0], *args])
        offset += block


CASES = [
    Case("channels_odd", [(1, 3, 5, 7), (1, 5, 5, 7), (1, 1, 5, 7)], {"axis": 1}),
    Case("negative_axis_last", [(2, 3, 4, 5), (2, 3, 4, 3)], {"axis": -1}),
    Case("axis0_rank2", [(3, 7), (1, 7), (5, 7)], {"axis": 0}),
    Case("rank5_mid", [(2, 1, 3, 4, 5), (2, 1, 6, 4, 5)], {"axis": 2}),
    Case("single_input", [(2, 9, 3)], {"axis": 1}),
    Case("six_inputs_rank3", [(2, k, 3) for k in (1, 2, 3, 4, 5, 6)], {"axis": -2}),
    Case("with_empty", [(1, 4, 3, 3), (1, 0, 3, 3), (1, 2, 3, 3)], {"axis": 1}),
    Case("const_input", [(1, 3, 4, 4), (1, 2, 4, 4)], {"axis": 1}, consts=(1,)),
]
