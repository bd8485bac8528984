"""Where(condition, x, y) with numpy broadcasting of all three. It runs binary.py's broadcast kernels: the
condition is operand a (a bool held as 0 / 1, docs/ir.md), x operand b, y the third operand."""
from __future__ import annotations

import numpy as np

from .base import Case, TensorInfo, broadcast, need_dtype, uniform
from .binary import launch_elementwise, same_dtypes

OP_TYPES = ("Where",)


def infer(cond: TensorInfo, x: TensorInfo, y: TensorInfo, _op_type=None, **attrs):
    need_dtype("Where", cond, "b", "the condition")
    same_dtypes("Where", x, y)
    return [(broadcast(cond.shape, x.shape, y.shape), x.dtype)]


def reference(cond, x, y, _op_type=None, **attrs):
    return [np.where(cond, x, y).astype(x.dtype, copy=False)]


def launch(ctx, _op_type=None, **attrs):
    cond, x, y = ctx.inputs
    launch_elementwise(ctx, [("a", cond, cond.shape), ("b", x, x.shape), ("s", y, y.shape)], ctx.outputs[0],
                       "Where", ())


CASES = [
    Case("same_shape", [uniform(0, 1, (3, 5, 7), bool), (3, 5, 7), (3, 5, 7)]),
    Case("mask_broadcast", [uniform(0, 1, (1, 1, 6, 6), bool), (2, 3, 6, 6), np.array(-1e4, np.float32)],
         consts=(2,)),
    Case("all_broadcast_nd", [uniform(0, 1, (2, 1, 5, 1), bool), (1, 3, 1, 4), (3, 5, 1)]),
    Case("const_condition", [np.array([True, False, False, True, True]), (4, 5), (5,)], consts=(0,)),
    Case("int_values", [uniform(0, 1, (6, 7), bool), uniform(-99, 99, (6, 7), np.int64),
                        uniform(-99, 99, (1, 7), np.int64)]),
]
