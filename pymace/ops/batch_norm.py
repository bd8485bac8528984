"""BatchNormalization, inference form: y = (x - mean) / sqrt(var + epsilon) * scale + B along axis 1.
The fold pass usually merges it into the preceding Conv; a standalone one runs as a per-channel multiply-add
whose factors are folded in fp32 at plan time."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from . import activation as act
from .base import Case, Const, TensorInfo, check_number

OP_TYPES = ("BatchNormalization",)


def infer(x: TensorInfo, *params, _op_type="BatchNormalization", activation=None, epsilon=1e-5, **_):
    """y has x's shape; scale, B, mean and var are one value per channel (axis 1), a PRelu slope 1 or C;
    epsilon a number."""
    check_number(epsilon, "BatchNormalization", "epsilon")
    if len(x.shape) < 2:
        raise ConvertError(f"BatchNormalization of a rank-{len(x.shape)} input (N, C, ... expected)")
    c = x.shape[1]
    if len(params) < 4 or any(p is None or tuple(p.shape) != (c,) for p in params[:4]):
        got = [list(p.shape) if p is not None else None for p in params[:4]]
        raise ConvertError(f"BatchNormalization of {list(x.shape)}: scale, B, mean, var must each be [{c}], not {got}")
    if activation == "PRelu" and (len(params) < 5 or int(np.prod(params[-1].shape)) not in (1, c)):
        raise ConvertError(f"BatchNormalization's fused PRelu slope must hold 1 or {c} values")
    return [(x.shape, "float32")]


def folded(scale, b, mean, var, epsilon):
    """(multiplier, shift) per channel, so that y = x * multiplier + shift."""
    mul = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + epsilon)
    return mul.astype(np.float32), (b - mean * mul).astype(np.float32)


def reference(x, scale, b, mean, var, *rest, _op_type="BatchNormalization", epsilon=1e-5, activation=None,
              activation_params=(), **_):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mul, shift = folded(scale, b, mean, var, epsilon)
    y = x * mul.reshape(shape) + shift.reshape(shape)
    slope = rest[-1] if activation == "PRelu" else None
    return [act.reference(y.astype(np.float32), activation, activation_params, slope)]


def launch(ctx, *, _op_type="BatchNormalization", epsilon=1e-5, activation=None, activation_params=(), **_):
    x, params = ctx.inputs[0], [r.const for r in ctx.inputs[1:5]]
    if any(p is None for p in params) or (activation == "PRelu" and ctx.inputs[-1].const is None):
        raise ConvertError(f"node {ctx.node.name!r}: BatchNormalization needs constant scale, B, mean, var")
    n, c, pixels = x.shape[0], x.shape[1], int(np.prod(x.shape[2:], dtype=np.int64))
    slope = ctx.inputs[-1].const.reshape(-1) if activation == "PRelu" else np.zeros(1, np.float32)
    mul, shift = folded(*params, epsilon)
    args = [x, Const(mul), Const(shift), Const(np.broadcast_to(slope, (c,)).astype(np.float32)), ctx.outputs[0],
            np.int32(n), np.int32(c), np.int32(pixels)]
    ctx.kernel("batch_norm", "batch_norm", (-(-pixels // 4), c, n), args,
               options=act.build_options(activation, activation_params))


def _params(c):
    rng = np.random.default_rng(c)  # a positive variance, as a trained model has
    return [rng.uniform(0.5, 2, c).astype(np.float32), rng.standard_normal(c).astype(np.float32),
            rng.standard_normal(c).astype(np.float32), rng.uniform(0.1, 3, c).astype(np.float32)]


CASES = [
    Case("nchw", [(2, 6, 9, 11), *_params(6)], dict(epsilon=1e-5), consts=(1, 2, 3, 4)),
    Case("nc", [(3, 10), *_params(10)], dict(epsilon=1e-3), consts=(1, 2, 3, 4)),
    Case("relu6_tail", [(1, 5, 7, 7), *_params(5)], dict(activation="Clip", activation_params=[0.0, 6.0]),
         consts=(1, 2, 3, 4)),
    Case("prelu_ncl", [(1, 4, 13), *_params(4), np.float32([0.1, -0.2, 0.3, 0.05])],
         dict(activation="PRelu"), consts=(1, 2, 3, 4, 5)),
]
