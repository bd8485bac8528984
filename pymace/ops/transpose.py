"""Transpose: permute the axes (`perm`, default reversed), any rank up to 6. Output element `i` gathers from
input offset `sum(idx_d * in_stride[perm[d]])`, walking the output dims with a permuted stride table."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import Case, Const, TensorInfo, check_ints

OP_TYPES = ("Transpose",)
CPU_TRANSPOSE_WORK = 1024  # transpose_rows: output values a work-item at least (whole rows; work-groups cost PoCL time)


def _perm(rank: int, perm) -> list[int]:
    if perm is None:
        return list(range(rank))[::-1]
    perm = check_ints(perm, "Transpose", "perm")
    if sorted(perm) != list(range(rank)):
        raise ConvertError(f"Transpose perm {perm[:16]} is not a permutation of the {rank} axes")
    return perm


def infer(x: TensorInfo, perm=None, _op_type: str = "Transpose", **_) -> list:
    return [(tuple(x.shape[p] for p in _perm(len(x.shape), perm)), x.dtype)]


def reference(x, perm=None, _op_type: str = "Transpose", **_) -> list[np.ndarray]:
    return [np.ascontiguousarray(np.transpose(x, _perm(x.ndim, perm)))]


def launch(ctx, perm=None, _op_type: str = "Transpose", **_) -> None:
    in_shape, out_shape = ctx.inputs[0].shape, ctx.outputs[0].shape
    n = int(np.prod(out_shape, dtype=np.int64))
    if n == 0:
        return
    in_strides = np.cumprod((1,) + tuple(in_shape[:0:-1]))[::-1]
    table = np.array(list(out_shape) + [in_strides[p] for p in _perm(len(in_shape), perm)], np.int32)
    options = (f"-DRANK={len(out_shape)}",)
    if not ctx.device.is_gpu and out_shape:  # rows a work-item (kernels/transpose.cl)
        rows = n // out_shape[-1]
        per_item = max(1, min(rows, CPU_TRANSPOSE_WORK // out_shape[-1]))
        ctx.kernel("transpose", "transpose_rows", (-(-rows // per_item),),
                   [ctx.inputs[0], ctx.outputs[0], Const(table), np.int32(rows)],
                   options=(*options, f"-DROWS={per_item}"), lws=(1,))
        return
    ctx.kernel("transpose", "transpose_gather", (n,), [ctx.inputs[0], ctx.outputs[0], Const(table), np.int32(n)],
               options=options)


CASES = [
    Case("nchw_to_nhwc", [(1, 5, 7, 3)], {"perm": [0, 2, 3, 1]}),
    Case("nhwc_to_nchw", [(2, 7, 9, 6)], {"perm": [0, 3, 1, 2]}),
    Case("rank2_default", [(13, 7)]),
    Case("rank3", [(3, 5, 11)], {"perm": [1, 2, 0]}),
    Case("rank5", [(2, 3, 4, 5, 3)], {"perm": [4, 0, 3, 1, 2]}),
    Case("rank6_shuffle", [(2, 3, 2, 3, 2, 5)], {"perm": [0, 2, 1, 3, 5, 4]}),
    Case("identity_perm", [(1, 3, 4, 5)], {"perm": [0, 1, 2, 3]}),
    Case("nhwc_to_nchw_wide", [(1, 9, 300, 3)], {"perm": [0, 3, 1, 2]}),  # rows longer than a work-item's share
    Case("rank1", [(29,)]),
]
