"""The Reduce* ops (Mean, Max, Min, Sum, Prod, L1, L2, SumSquare, LogSum, LogSumExp) over any axes, and the
reduction kernels GlobalAveragePool / GlobalMaxPool share (pool.py).

Reduced axes are grouped into runs of adjacent dims; each run is one launch over an (outer, K, inner) view
that reduces K. A large K with few rows gets a work-group per row (a tree reduction in local memory) so a big
GPU stays busy; otherwise each work-item reduces one row serially, neighbours reading neighbouring columns.
Several runs (e.g. axes [0, 2]) chain through scratch buffers; each reduction composes: a mean of equal-sized
means is the mean, the L2 norm of L2 norms is the L2 norm, a SumSquare sums squares once and then sums, a LogSum
sums and takes the log last, a LogSumExp of LogSumExps is the LogSumExp. With `noop_with_empty_axes` and no axes
nothing is reduced and each element gets the reduction's elementwise part (SumSquare squares, LogSum takes the
log), as in ONNX."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import Case, Scratch, TensorInfo, need_dtype, uniform
from .binary import int_flag

# op type -> the kernel's reduction (reduce.cl -DRED_<name>); GlobalAveragePool/GlobalMaxPool use mean / max
REDUCTIONS = {"ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "min", "ReduceSum": "sum",
              "ReduceProd": "prod", "ReduceL1": "l1", "ReduceL2": "l2", "ReduceSumSquare": "sumsquare",
              "ReduceLogSum": "logsum", "ReduceLogSumExp": "logsumexp"}
OP_TYPES = tuple(REDUCTIONS)
WG_MIN_K = 64  # below this a serial loop per row is as fast as a work-group reduction
WG_MAX_ROWS = 4096  # with this many rows the serial kernel already fills the device


def norm_axes(rank: int, axes, noop_with_empty_axes=0) -> tuple[int, ...]:
    if axes is None or len(axes) == 0:
        return () if noop_with_empty_axes else tuple(range(rank))
    bad = [int(a) for a in axes if not -max(rank, 1) <= int(a) < max(rank, 1)]
    if bad:
        raise ConvertError(f"axes {bad} are out of range for a tensor of rank {rank}")
    red = sorted(int(a) % max(rank, 1) for a in axes)
    if len(set(red)) != len(red):
        raise ConvertError(f"axes {list(axes)} name an axis twice")
    return tuple(red)


def infer(x: TensorInfo, *rest, _op_type="ReduceMean", axes=None, keepdims=1, noop_with_empty_axes=0, **attrs):
    need_dtype(_op_type, x, "fiub" if _op_type in ("ReduceMax", "ReduceMin") else "fiu")
    red = norm_axes(len(x.shape), axes, noop_with_empty_axes)
    shape = [1 if d in red else n for d, n in enumerate(x.shape)] if keepdims else \
        [n for d, n in enumerate(x.shape) if d not in red]
    return [(tuple(shape), x.dtype)]


def _identity(op: str, dtype: np.dtype):
    """The value a reduction of no elements gives (ONNX: -inf for an empty ReduceMax, …)."""
    if op in ("max", "min") and dtype.kind == "b":
        return op == "min"
    if op in ("max", "min"):
        info = np.iinfo(dtype) if dtype.kind in "iu" else None
        if op == "max":
            return info.min if info else -np.inf
        return info.max if info else np.inf
    return {"prod": 1, "logsum": -np.inf, "logsumexp": -np.inf}.get(op, 0)


def _reduce(op: str, x: np.ndarray, red: tuple, keep: bool) -> np.ndarray:
    wide = x.astype(np.float64) if x.dtype.kind == "f" else x
    if op in ("max", "min"):
        fn = np.max if op == "max" else np.min
        return fn(x, axis=red, keepdims=keep, initial=_identity(op, x.dtype))
    if op == "logsumexp":
        m = np.max(wide, axis=red, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(m), m, 0)  # all -inf rows give log(0) = -inf, an inf row gives inf
        return np.log(np.sum(np.exp(wide - m), axis=red, keepdims=keep)) + (m if keep else np.squeeze(m, red))
    part = {"l1": np.abs, "l2": np.square, "sumsquare": np.square}.get(op, lambda v: v)(wide)
    if op == "prod":
        return np.prod(part, axis=red, keepdims=keep)
    total = np.sum(part, axis=red, keepdims=keep)
    count = int(np.prod([x.shape[a] for a in red]))
    return {"mean": lambda t: t / count if count else t * np.nan, "l2": np.sqrt, "logsum": np.log}.get(
        op, lambda t: t)(total)


def reference(x, *rest, _op_type="ReduceMean", axes=None, keepdims=1, noop_with_empty_axes=0, **attrs):
    red = norm_axes(x.ndim, axes, noop_with_empty_axes)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y = _reduce(REDUCTIONS[_op_type], x, red, bool(keepdims))
        return [np.asarray(y).astype(x.dtype)]


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
    return steps or [(int(np.prod(shape)), 1, 1)]  # nothing to reduce: the elementwise part only


def step_op(op: str, first: bool, last: bool) -> str:
    """What launch `first`/`last` of a chain computes so that the chain gives `op` over all the axes."""
    if op == "sumsquare":
        return "sumsquare" if first else "sum"
    if op == "logsum":
        return "logsum" if last else "sum"
    return op


def launch_reduce(ctx, x, y, red, op="mean"):
    steps = plan(x.shape, red)
    src = x
    for n, (outer, k, inner) in enumerate(steps):
        rows = outer * inner
        dst = y if n == len(steps) - 1 else Scratch(rows)
        args = [src, dst, np.int32(k), np.int32(inner), np.int32(rows)]
        kind = (f"-DRED_{step_op(op, n == 0, n == len(steps) - 1).upper()}=1", int_flag("x", src),
                int_flag("y", dst))
        if k >= WG_MIN_K and (inner == 1 or rows < WG_MAX_ROWS) and op != "logsumexp":
            wg = 1 << (min(256, ctx.device.max_work_group_size, k).bit_length() - 1)
            ctx.kernel("reduce", "reduce_wg", (wg, rows), args, options=kind + (f"-DWG={wg}",), lws=(wg, 1))
        else:
            ctx.kernel("reduce", "reduce_serial", (rows,), args, options=kind)
        src = dst


def launch(ctx, _op_type="ReduceMean", axes=None, keepdims=1, noop_with_empty_axes=0, **attrs):
    x = ctx.inputs[0]
    launch_reduce(ctx, x, ctx.outputs[0], norm_axes(len(x.shape), axes, noop_with_empty_axes),
                  REDUCTIONS[_op_type])


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
    Case("max_last", [(3, 5, 130)], op_type="ReduceMax", attrs={"axes": [-1], "keepdims": 0}),
    Case("max_split_axes", [(3, 4, 5, 6)], op_type="ReduceMax", attrs={"axes": [0, 3]}),
    Case("max_bool", [uniform(0, 1, (3, 4, 5), bool)], op_type="ReduceMax", attrs={"axes": [1], "keepdims": 0}),
    Case("min_channels", [(2, 9, 4, 3)], op_type="ReduceMin", attrs={"axes": [1], "keepdims": 1}),
    Case("min_all_large", [(1, 2, 40, 40)], op_type="ReduceMin", attrs={"keepdims": 0}),
    Case("sum_hw", [(2, 3, 7, 9)], op_type="ReduceSum", attrs={"axes": [2, 3], "keepdims": 1}),
    Case("sum_int", [uniform(-50, 50, (3, 6, 5), np.int64)], op_type="ReduceSum", attrs={"axes": [1, 2]}),
    Case("sum_noop", [(3, 4)], op_type="ReduceSum", attrs={"axes": [], "noop_with_empty_axes": 1}),
    Case("prod_rows", [uniform(0.6, 1.5, (4, 11))], op_type="ReduceProd", attrs={"axes": [1], "keepdims": 0}),
    Case("prod_split_axes", [uniform(-1.4, 1.4, (3, 2, 4, 5))], op_type="ReduceProd", attrs={"axes": [0, 2]}),
    Case("l1_first", [(5, 3, 4)], op_type="ReduceL1", attrs={"axes": [0], "keepdims": 1}),
    Case("l1_noop", [(2, 7)], op_type="ReduceL1", attrs={"axes": [], "noop_with_empty_axes": 1}),
    Case("l2_long", [(2, 300)], op_type="ReduceL2", attrs={"axes": [1], "keepdims": 0}),
    Case("l2_split_axes", [(3, 4, 5, 6)], op_type="ReduceL2", attrs={"axes": [1, 3]}),
    Case("sumsquare_split_axes", [(3, 4, 5, 6)], op_type="ReduceSumSquare", attrs={"axes": [0, 2]}),
    Case("sumsquare_noop", [(3, 5)], op_type="ReduceSumSquare", attrs={"axes": [], "noop_with_empty_axes": 1}),
    Case("logsum_split_axes", [uniform(0.1, 3, (2, 3, 4, 5))], op_type="ReduceLogSum",
         attrs={"axes": [1, 3], "keepdims": 0}),
    Case("logsum_large", [uniform(0.1, 3, (1, 500))], op_type="ReduceLogSum", attrs={"axes": [1]}),
    Case("logsumexp_last", [uniform(-50, 50, (4, 6, 70))], op_type="ReduceLogSumExp", attrs={"axes": [-1]}),
    Case("logsumexp_split_axes", [uniform(-80, 90, (3, 4, 5, 6))], op_type="ReduceLogSumExp",
         attrs={"axes": [0, 2], "keepdims": 0}),
]
