"""Fused activations: one definition for the NumPy reference and the kernels' build options.

A producer (Conv, ConvTranspose, Gemm, MatMul, Add/Sub/Mul/Div, BatchNormalization) may carry
  activation="Relu"|"Clip"|"HardSwish"|"HardSigmoid"|"Sigmoid"|"LeakyRelu"|"PRelu"|"Tanh"|"Silu"|"Gelu"
  activation_params=[...]   Clip: [min, max]; HardSigmoid: [alpha, beta]; LeakyRelu: [alpha]; Gelu: [1 for
                            the tanh approximation, 0 for erf]
and, for PRelu, the slope as its last input (per channel, broadcast along axis 1). The fusion pass sets these;
frontends may too (TFLite's fused_activation_function). Silu (x · sigmoid(x), also called swish) is pymace's own:
a GPU plan fuses the Sigmoid → Mul pair that spells it (passes/fuse_silu.py)."""
from __future__ import annotations

import numbers

import numpy as np

from ..errors import ConvertError

CODES = {None: 0, "Relu": 1, "Clip": 2, "HardSwish": 3, "HardSigmoid": 4, "Sigmoid": 5, "LeakyRelu": 6,
         "PRelu": 7, "Tanh": 8, "Silu": 9, "Gelu": 10}
FUSABLE = tuple(k for k in CODES if k)


def clip_bounds(params=()) -> tuple[float | None, float | None]:
    """Clip's (min, max) from its activation_params [min, max] as floats; None where a bound is absent.
    ConvertError for a bound that is no number or NaN (ONNX leaves Clip to NaN undefined; the kernels' fmin/fmax
    and NumPy's clip disagree on it)."""
    p = list(params or ())
    bounds = []
    for name, b in zip(("min", "max"), (p + [None, None])[:2]):
        if b is not None and (isinstance(b, bool) or not isinstance(b, numbers.Real) or np.isnan(b)):
            raise ConvertError(f"Clip's {name} {str(b)[:40]!r} is not a number")
        bounds.append(None if b is None else float(b))
    return bounds[0], bounds[1]


def reference(y: np.ndarray, activation: str | None, params=(), slope: np.ndarray | None = None) -> np.ndarray:
    """Apply a fused activation to a producer's fp32 output `y` (NCHW or [N, C])."""
    p = list(params or ())
    if activation is None:
        return y
    if activation == "Relu":
        return np.maximum(y, 0)
    if activation == "Clip":
        lo, hi = clip_bounds(p)
        return np.clip(y, -np.inf if lo is None else lo, np.inf if hi is None else hi).astype(y.dtype)
    if activation == "HardSwish":
        return y * np.clip(y / 6 + 0.5, 0, 1)
    if activation == "HardSigmoid":
        alpha, beta = (p + [0.2, 0.5])[:2] if len(p) < 2 else p[:2]
        return np.clip(alpha * y + beta, 0, 1).astype(y.dtype)
    if activation == "Sigmoid":
        return np.exp(-np.logaddexp(0, -y)).astype(y.dtype)  # 1 / (1 + e^-y) without overflow for y << 0
    if activation == "LeakyRelu":
        alpha = p[0] if p else 0.01
        return np.where(y >= 0, y, alpha * y).astype(y.dtype)
    if activation == "PRelu":
        s = slope.reshape((1, -1) + (1,) * (y.ndim - 2)) if slope is not None and slope.size > 1 else slope
        return np.where(y >= 0, y, y * s).astype(y.dtype)
    if activation == "Tanh":
        return np.tanh(y)
    if activation == "Silu":
        return (y * np.exp(-np.logaddexp(0, -y))).astype(y.dtype)
    if activation == "Gelu":
        from .math import gelu

        return gelu(y, gelu_tanh(p)).astype(y.dtype)
    raise ValueError(f"unknown fused activation {activation!r}")


def gelu_tanh(params=()) -> bool:
    """Whether a fused Gelu's activation_params [form] ask for the tanh approximation (1) rather than erf (0)."""
    p = list(params or ())
    return bool(p and p[0])


def c_float(value) -> str:
    """`value` as an OpenCL C float literal for a -D option: inf and NaN as the C macros (`inff` is no literal)."""
    v = float(value)
    if np.isnan(v):
        return "NAN"
    if np.isinf(v):
        return "INFINITY" if v > 0 else "(-INFINITY)"
    return f"{v!r}f"


def build_options(activation: str | None, params=()) -> tuple[str, ...]:
    """-D options selecting `activate()` in kernels/common.h. Parameters are baked into the program so the hot
    loop passes no extra arguments; each distinct value gives its own program (as MACE does)."""
    p = list(params or ())
    opts = [f"-DACT={CODES[activation]}"] + (["-DHAS_SLOPE"] if activation == "PRelu" else [])
    if activation == "Clip":
        lo, hi = clip_bounds(p)  # unbounded: inf stays inf, as in ONNX
        opts += [f"-DACT_A={c_float(-np.inf if lo is None else lo)}",
                 f"-DACT_B={c_float(np.inf if hi is None else hi)}"]
    elif activation == "HardSigmoid":
        alpha, beta = (p + [0.2, 0.5])[:2] if len(p) < 2 else p[:2]
        opts += [f"-DACT_A={c_float(alpha)}", f"-DACT_B={c_float(beta)}"]
    elif activation == "LeakyRelu":
        opts += [f"-DACT_A={c_float(p[0] if p else 0.01)}"]
    elif activation == "Gelu":
        opts += [f"-DACT_A={c_float(float(gelu_tanh(p)))}"]
    return tuple(opts)
