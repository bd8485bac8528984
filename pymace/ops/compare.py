"""Comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual) and logic (And, Or, Xor) with numpy broadcasting:
bool results. On the device a bool is 0 / 1 in the storage type (docs/ir.md), so these run binary.py's
broadcast kernels with their own OP codes, as Where (where.py) and Not (math.py) read them."""
from __future__ import annotations

import numpy as np

from .base import Case, TensorInfo, broadcast, need_dtype, uniform
from .binary import launch_elementwise, same_dtypes

COMPARISONS = {"Equal": np.equal, "Less": np.less, "Greater": np.greater, "LessOrEqual": np.less_equal,
               "GreaterOrEqual": np.greater_equal}
LOGIC = {"And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor}
OP_TYPES = tuple(COMPARISONS) + tuple(LOGIC)


def infer(a: TensorInfo, b: TensorInfo, _op_type="Equal", **attrs):
    same_dtypes(_op_type, a, b)
    need_dtype(_op_type, a, "b" if _op_type in LOGIC else "fiub")
    return [(broadcast(a.shape, b.shape), "bool")]


def reference(a, b, _op_type="Equal", **attrs):
    return [np.asarray({**COMPARISONS, **LOGIC}[_op_type](a, b))]


def launch(ctx, _op_type="Equal", **attrs):
    a, b = ctx.inputs
    launch_elementwise(ctx, [("a", a, a.shape), ("b", b, b.shape)], ctx.outputs[0], _op_type, ())


def _small_ints(shape):
    """Fresh small integers as floats: equal pairs are frequent and fp16 storage holds them exactly."""
    return lambda rng: rng.integers(-3, 4, shape).astype(np.float32)


CASES = [
    Case("equal_same", [_small_ints((3, 5, 7)), _small_ints((3, 5, 7))], op_type="Equal"),
    Case("equal_int_broadcast", [uniform(-3, 3, (4, 1, 6), np.int64), uniform(-3, 3, (5, 1), np.int64)],
         op_type="Equal"),
    Case("equal_bool", [uniform(0, 1, (2, 9), bool), uniform(0, 1, (9,), bool)], op_type="Equal"),
    Case("less_scalar_const", [(2, 3, 11), np.array(0.25, np.float32)], consts=(1,), op_type="Less"),
    Case("greater_nd", [_small_ints((2, 1, 4, 5)), _small_ints((1, 3, 1, 5))], op_type="Greater"),
    Case("less_or_equal", [_small_ints((6, 7)), _small_ints((6, 1))], op_type="LessOrEqual"),
    Case("greater_or_equal_first_broadcast", [_small_ints((1, 5)), _small_ints((3, 4, 5))],
         op_type="GreaterOrEqual"),
    Case("and", [uniform(0, 1, (3, 4, 5), bool), uniform(0, 1, (3, 4, 5), bool)], op_type="And"),
    Case("or_broadcast", [uniform(0, 1, (2, 3, 1), bool), uniform(0, 1, (1, 3, 7), bool)], op_type="Or"),
    Case("xor_const", [uniform(0, 1, (4, 13), bool), np.array([True, False] * 6 + [True])], consts=(1,),
         op_type="Xor"),
]
