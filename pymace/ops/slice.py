"""Slice: ONNX semantics (negative indices count from the end, starts/ends clamp to the axis, steps may be
negative). The kernel gathers each output element from `base + sum(i_d * stride_d)`, the strides already
scaled by the steps, so one kernel serves every rank and step."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import Case, Const, TensorInfo, check_axis, check_ints

OP_TYPES = ("Slice",)


def plan(shape, starts, ends, axes=None, steps=None) -> list[tuple[int, int, int]]:
    """(first index, step, count) per axis of `shape`, after ONNX's clamping rules; ConvertError for axes out of
    range or repeated, a step of 0, or lists of different lengths."""
    starts, ends = check_ints(starts, "Slice", "starts"), check_ints(ends, "Slice", "ends")
    axes = check_ints(axes, "Slice", "axes") if axes is not None else list(range(len(starts)))
    steps = check_ints(steps, "Slice", "steps") if steps is not None else [1] * len(axes)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ConvertError(f"Slice starts, ends, axes, steps have lengths {len(starts)}, {len(ends)}, {len(axes)}, "
                           f"{len(steps)}")
    axes = [check_axis(a, len(shape), "Slice") for a in axes]
    if len(set(axes)) != len(axes) or 0 in steps:
        raise ConvertError(f"Slice axes {axes} repeat or steps {steps} hold a 0")
    out = [(0, 1, d) for d in shape]
    for a, s, e, st in zip(axes, starts, ends, steps, strict=True):
        dim = shape[a]
        s, e = (s + dim if s < 0 else s), (e + dim if e < 0 else e)
        if st > 0:
            s, e = min(max(s, 0), dim), min(max(e, 0), dim)
            count = max(0, -(-(e - s) // st))
        else:
            s, e = min(max(s, 0), dim - 1), min(max(e, -1), dim - 1)
            count = max(0, -(-(s - e) // -st))
        out[a % len(shape)] = (s, st, count)
    return out


def infer(x: TensorInfo, starts, ends, axes=None, steps=None, _op_type: str = "Slice", **_) -> list:
    return [(tuple(c for _, _, c in plan(x.shape, starts, ends, axes, steps)), x.dtype)]


def reference(x, starts, ends, axes=None, steps=None, _op_type: str = "Slice", **_) -> list[np.ndarray]:
    index = tuple(np.arange(c) * st + s for s, st, c in plan(x.shape, starts, ends, axes, steps))
    return [x[np.ix_(*index)] if index else x.copy()]


def launch(ctx, starts, ends, axes=None, steps=None, _op_type: str = "Slice", **_) -> None:
    in_shape, out_shape = ctx.inputs[0].shape, ctx.outputs[0].shape
    n = int(np.prod(out_shape, dtype=np.int64))
    if n == 0:
        return
    in_strides = np.cumprod((1,) + tuple(in_shape[:0:-1]))[::-1]
    axes_plan = plan(in_shape, starts, ends, axes, steps)
    base = sum(s * stride for (s, _, _), stride in zip(axes_plan, in_strides, strict=True))
    steps_strides = [st * stride for (_, st, _), stride in zip(axes_plan, in_strides, strict=True)]
    table = np.array(list(out_shape) + steps_strides, np.int32)
    ctx.kernel("slice", "slice_gather", (n,), [ctx.inputs[0], ctx.outputs[0], Const(table), np.int32(base),
                                               np.int32(n)], options=(f"-DRANK={len(out_shape)}",))



CASES = [
    Case("channels_odd", [(1, 7, 9, 11)], {"starts": [1, 2], "ends": [6, -1], "axes": [1, 3]}),
    Case("negative_steps", [(2, 5, 6, 7)], {"starts": [-1, 5], "ends": [-100, 0], "axes": [2, 3],
                                            "steps": [-2, -1]}),
    Case("clamped_ends", [(3, 10)], {"starts": [-20, 3], "ends": [2**62, 100], "axes": [0, -1],
                                     "steps": [1, 3]}),
    Case("rank5", [(2, 3, 4, 5, 6)], {"starts": [1, 0, 1], "ends": [3, 4, 6], "axes": [1, -2, 4],
                                      "steps": [1, 3, 2]}),
    Case("rank3_default_axes", [(5, 6, 7)], {"starts": [1, 1, 1], "ends": [4, 6, 7]}),
    Case("reverse_all", [(3, 4, 5)], {"starts": [-1, -1, -1], "ends": [-2**62] * 3, "axes": [0, 1, 2],
                                      "steps": [-1, -1, -1]}),
]
