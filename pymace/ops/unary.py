"""The unary activations. Each is the fused activation of the same name (activation.py) applied on its own, so
kernels and references share one definition: `activate()` in kernels/common.h and `activation.reference`.
PRelu's slope broadcasts numpy-style against x (ONNX unidirectional broadcasting), so it runs binary.py's
broadcast kernels with the slope as the fused-activation operand."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from . import binary
from .activation import build_options, clip_bounds
from .activation import reference as activation_reference
from .base import Case, TensorInfo

OP_TYPES = ("Relu", "Clip", "HardSwish", "HardSigmoid", "Sigmoid", "LeakyRelu", "PRelu", "Tanh")


def params(op: str, min=None, max=None, alpha=None, beta=None, **attrs) -> list:
    """The op's attributes as activation_params (ONNX defaults where absent)."""
    if op == "Clip":
        return [min, max]
    if op == "HardSigmoid":
        return [0.2 if alpha is None else alpha, 0.5 if beta is None else beta]
    if op == "LeakyRelu":
        return [0.01 if alpha is None else alpha]
    return []


def infer(x: TensorInfo, *slope, _op_type=None, **attrs):
    if _op_type == "Clip":
        clip_bounds(params("Clip", **attrs))
    if _op_type == "PRelu":  # the slope broadcasts onto x, never x onto the slope (ONNX: unidirectional)
        if not slope or slope[0] is None or binary.named_broadcast("PRelu", x.shape, slope[0].shape) != tuple(x.shape):
            raise ConvertError(f"PRelu slope {list(slope[0].shape) if slope and slope[0] else None} does not "
                               f"broadcast onto {list(x.shape)}")
    return [(x.shape, x.dtype)]


def reference(x, *rest, _op_type="Relu", **attrs):
    if _op_type == "PRelu":
        y = np.where(x >= 0, x, x * rest[0])
    elif _op_type == "Clip":  # bounds applied one by one so integer inputs keep their dtype
        lo, hi = attrs.get("min"), attrs.get("max")
        y = x if lo is None else np.maximum(x, lo)
        y = y if hi is None else np.minimum(y, hi)
    else:
        y = activation_reference(x, _op_type, params(_op_type, **attrs))
    return [np.asarray(y).astype(x.dtype, copy=False)]


def launch(ctx, _op_type="Relu", **attrs):
    x, y = ctx.inputs[0], ctx.outputs[0]
    options = build_options(_op_type, params(_op_type, **attrs))
    if _op_type == "PRelu":
        slope = ctx.inputs[1]
        binary.launch_elementwise(ctx, [("a", x, x.shape), ("s", slope, slope.shape)], y, None, options)
        return
    n = int(np.prod(y.shape))
    ctx.kernel("unary", "unary", ((n + 3) // 4,), [x, y, np.int32(n)], options=options)


CASES = [
    Case("relu_odd", [(1, 5, 7, 9)], op_type="Relu"),
    Case("relu_vec", [(2, 16, 8, 8)], op_type="Relu"),
    Case("clip6", [(1, 7, 5, 5)], op_type="Clip", attrs={"min": 0.0, "max": 0.6}),
    Case("clip_min_only", [(3, 11)], op_type="Clip", attrs={"min": -0.3}),
    Case("clip_max_only", [(2, 3, 5)], op_type="Clip", attrs={"max": 0.2}),
    Case("clip_min_above_max", [(2, 3, 5)], op_type="Clip", attrs={"min": 0.4, "max": -0.1}),  # all become max
    Case("clip_max_infinite", [(2, 3, 5)], op_type="Clip", attrs={"min": -0.1, "max": float("inf")}),
    Case("hardswish", [(1, 6, 9, 9)], op_type="HardSwish"),
    Case("hardsigmoid_default", [(1, 3, 7, 7)], op_type="HardSigmoid"),
    Case("hardsigmoid_custom", [(2, 5, 3, 3)], op_type="HardSigmoid", attrs={"alpha": 0.16667, "beta": 0.4}),
    Case("sigmoid", [(1, 9, 6, 5)], op_type="Sigmoid"),
    Case("leaky_default", [(1, 5, 5, 5)], op_type="LeakyRelu"),
    Case("leaky_alpha", [(2, 3, 7)], op_type="LeakyRelu", attrs={"alpha": 0.2}),
    Case("tanh", [(1, 7, 11, 3)], op_type="Tanh"),
    Case("prelu_c11", [(1, 6, 5, 7), (6, 1, 1)], consts=(1,), op_type="PRelu"),
    Case("prelu_1c11", [(2, 10, 4, 4), (1, 10, 1, 1)], consts=(1,), op_type="PRelu"),
    Case("prelu_scalar", [(1, 3, 9, 9), (1,)], consts=(1,), op_type="PRelu"),
    Case("prelu_rank2", [(5, 13), (13,)], consts=(1,), op_type="PRelu"),
    Case("prelu_full", [(1, 3, 4, 5), (3, 4, 5)], consts=(1,), op_type="PRelu"),
    Case("prelu_nd", [(2, 3, 4, 5), (3, 1, 5)], consts=(1,), op_type="PRelu"),
]
