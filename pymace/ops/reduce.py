"""ReduceMean, and the reduction kernels GlobalAveragePool / GlobalMaxPool share (pool.py).

Reduced axes are grouped into runs of adjacent dims; each run is one launch over an (outer, K, inner) view
that reduces K. A large K with few rows gets a work-group per row (a tree reduction in local memory) so a big
GPU stays busy; otherwise each work-item reduces one row serially, neighbours reading neighbouring columns.
Several runs (e.g. axes [0, 2]) chain through scratch buffers: a mean of equal-sized means is the mean."""
from __future__ import annotations

import numpy as np

from .base import Case, Scratch, TensorInfo

OP_TYPES = ("ReduceMean",)
WG_MIN_K = 64  # below this a serial loop per row is as fast as a work-group reduction
WG_MAX_ROWS = 4096  # with this many rows the serial kernel already fills the device
CPU_ROWS_WORK = 4096  # reduce_rows_cpu (CPUs): values a work-item reduces at least (work-groups cost PoCL time)


def norm_axes(rank: int, axes, noop_with_empty_axes=0) -> tuple[int, ...]:
    if axes is None or len(axes) == 0:
        return () if noop_with_empty_axes else tuple(range(rank))
    return tuple(sorted(int(a) % rank for a in axes))


def infer(x: TensorInfo, *rest, _op_type=None, axes=None, keepdims=1, noop_with_empty_axes=0, **attrs):
    red = norm_axes(len(x.shape), axes, noop_with_empty_axes)
    shape = [1 if d in red else n for d, n in enumerate(x.shape)] if keepdims else \
        [n for d, n in enumerate(x.shape) if d not in red]
    return [(tuple(shape), x.dtype)]


def reference(x, *rest, _op_type=None, axes=None, keepdims=1, noop_with_empty_axes=0, **attrs):
    red = norm_axes(x.ndim, axes, noop_with_empty_axes)
    if not red:
        return [x.copy()]
    return [np.mean(x, axis=red, keepdims=bool(keepdims)).astype(x.dtype)]


def plan(shape, red) -> list[tuple[int, int, int]]:
    """(outer, K, inner) of each launch, innermost reduced run first."""
    groups: list[list] = []  # [size, reduced]
    for d, n in enumerate(shape):
        if n == 1:
            continue
        if groups and groups[-1][1] == (d in red):
            groups[-1][0] *= n
        else:
            groups.append([n, d in red])
    steps = []
    for g in reversed(range(len(groups))):
        if groups[g][1]:
            outer = int(np.prod([s for s, _ in groups[:g]]))
            inner = int(np.prod([s for s, _ in groups[g + 1:]]))
            steps.append((outer, groups[g][0], inner))
            groups[g][0] = 1
    return steps or [(int(np.prod(shape)), 1, 1)]  # nothing to reduce: a copy


def launch_reduce(ctx, x, y, red, op="mean"):
    steps = plan(x.shape, red)
    src = x
    for n, (outer, k, inner) in enumerate(steps):
        rows = outer * inner
        dst = y if n == len(steps) - 1 else Scratch(rows)
        args = [src, dst, np.int32(k), np.int32(inner), np.int32(rows)]
        max_op = f"-DOP_MAX={int(op == 'max')}"
        if not ctx.device.is_gpu and inner == 1:  # contiguous rows: vector loads, rows a work-item
            per = max(1, min(rows, CPU_ROWS_WORK // k))
            ctx.kernel("reduce_cpu", "reduce_rows_cpu", (-(-rows // per),),
                       [src, dst, np.int32(k), np.int32(rows), np.int32(per)], options=(max_op,), lws=(1,))
        elif k >= WG_MIN_K and (inner == 1 or rows < WG_MAX_ROWS):
            wg = 1 << (min(256, ctx.device.max_work_group_size, k).bit_length() - 1)
            ctx.kernel("reduce", "reduce_wg", (wg, rows), args, options=(max_op, f"-DWG={wg}"), lws=(wg, 1))
        else:
            ctx.kernel("reduce", "reduce_serial", (rows,), args, options=(max_op,))
        src = dst


def launch(ctx, _op_type=None, axes=None, keepdims=1, noop_with_empty_axes=0, **attrs):
    x = ctx.inputs[0]
    launch_reduce(ctx, x, ctx.outputs[0], norm_axes(len(x.shape), axes, noop_with_empty_axes))


CASES = [
    Case("hw_keepdims", [(2, 5, 7, 9)], attrs={"axes": [2, 3], "keepdims": 1}),
    Case("hw_large", [(1, 3, 40, 33)], attrs={"axes": [2, 3], "keepdims": 0}),
    Case("channels", [(2, 7, 3, 5)], attrs={"axes": [1], "keepdims": 1}),
    Case("channels_large", [(1, 300, 2, 3)], attrs={"axes": [1], "keepdims": 0}),
    Case("last_axis_negative", [(3, 4, 130)], attrs={"axes": [-1], "keepdims": 1}),
    Case("split_axes", [(3, 4, 5, 6)], attrs={"axes": [0, 2], "keepdims": 0}),
    Case("three_runs", [(2, 3, 4, 5, 6)], attrs={"axes": [0, 2, 4], "keepdims": 1}),
    Case("all_axes_default", [(2, 3, 17, 5)]),
    Case("size_one_axis", [(4, 1, 6)], attrs={"axes": [1], "keepdims": 0}),
    Case("noop_empty_axes", [(2, 3, 5)], attrs={"axes": [], "noop_with_empty_axes": 1}),
]
