"""Elementwise math functions of one tensor: Erf, Gelu, Sqrt, Exp, Log, Floor, Round, the trigonometric family,
Softplus, Elu, Selu, Mish, Not, … One kernel (kernels/math.cl) serves them all, the function chosen at build time
by -DFN_<op type>, its attributes baked in as -DP_A/-DP_B. NaN propagates as in ONNX: every function of NaN is
NaN (Not of a bool has no NaN). Integer and bool tensors (int32 on the device, docs/ir.md) run the kernel's
integer function (-DINT_ELEMS). The fused-activation ops (Relu, Sigmoid, …) are in unary.py."""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConvertError
from .base import Case, TensorInfo, need_dtype, uniform

# op type -> NumPy kinds its input may have (ONNX's type constraints that pymace meets)
KINDS = {"Abs": "fiu", "Neg": "fi", "Sign": "fiu", "Not": "b"}
FLOAT_ONLY = ("Erf", "Gelu", "Sqrt", "Reciprocal", "Exp", "Log", "Floor", "Ceil", "Round", "Sin", "Cos", "Tan",
              "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Softplus", "Softsign", "Elu",
              "Selu", "Celu", "Mish")
OP_TYPES = FLOAT_ONLY + tuple(KINDS)
SELU_ALPHA, SELU_GAMMA = 1.67326319217681884765625, 1.05070102214813232421875
_erf = np.frompyfunc(math.erf, 1, 1)


def params(op: str, alpha=None, gamma=None, approximate="none", **attrs) -> list[float]:
    """The op's float attributes in kernel order (ONNX defaults where absent)."""
    if op in ("Elu", "Celu"):
        return [1.0 if alpha is None else float(alpha)]
    if op == "Selu":
        return [SELU_ALPHA if alpha is None else float(alpha), SELU_GAMMA if gamma is None else float(gamma)]
    if op == "Gelu":
        return [1.0 if approximate == "tanh" else 0.0]
    return []


def infer(x: TensorInfo, _op_type=None, approximate="none", **attrs):
    need_dtype(_op_type, x, KINDS.get(_op_type, "f"))
    if _op_type == "Gelu" and approximate not in ("none", "tanh"):
        raise ConvertError(f"Gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
    return [(x.shape, x.dtype)]


def erf(x: np.ndarray) -> np.ndarray:
    return _erf(np.asarray(x, np.float64)).astype(np.float64)


def _softplus(x):
    return np.logaddexp(0.0, x)


def gelu(x, tanh_form: float):
    if tanh_form:
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


FUNCTIONS = {
    "Erf": lambda x, p: erf(x), "Gelu": lambda x, p: gelu(x, p[0]), "Sqrt": lambda x, p: np.sqrt(x),
    "Reciprocal": lambda x, p: 1 / x, "Exp": lambda x, p: np.exp(x), "Log": lambda x, p: np.log(x),
    "Floor": lambda x, p: np.floor(x), "Ceil": lambda x, p: np.ceil(x), "Round": lambda x, p: np.round(x),
    "Sin": lambda x, p: np.sin(x), "Cos": lambda x, p: np.cos(x), "Tan": lambda x, p: np.tan(x),
    "Asin": lambda x, p: np.arcsin(x), "Acos": lambda x, p: np.arccos(x), "Atan": lambda x, p: np.arctan(x),
    "Sinh": lambda x, p: np.sinh(x), "Cosh": lambda x, p: np.cosh(x), "Asinh": lambda x, p: np.arcsinh(x),
    "Acosh": lambda x, p: np.arccosh(x), "Atanh": lambda x, p: np.arctanh(x),
    "Softplus": lambda x, p: _softplus(x), "Softsign": lambda x, p: x / (1 + np.abs(x)),
    "Elu": lambda x, p: np.where(x < 0, p[0] * np.expm1(np.minimum(x, 0)), x),
    "Selu": lambda x, p: np.where(x <= 0, p[1] * p[0] * np.expm1(np.minimum(x, 0)), p[1] * x),
    "Celu": lambda x, p: np.maximum(x, 0) + np.minimum(0, p[0] * np.expm1(np.minimum(x, 0) / p[0])),
    "Mish": lambda x, p: x * np.tanh(_softplus(x)),
    "Abs": lambda x, p: np.abs(x), "Neg": lambda x, p: np.negative(x), "Sign": lambda x, p: np.sign(x),
    "Not": lambda x, p: np.logical_not(x),
}


def reference(x, _op_type="Erf", **attrs):
    with np.errstate(all="ignore"):  # NaN and ±inf are results here, as in ONNX
        y = FUNCTIONS[_op_type](x if x.dtype.kind != "f" else x.astype(np.float64), params(_op_type, **attrs))
    return [np.asarray(y).astype(x.dtype, copy=False)]


def launch(ctx, _op_type="Erf", **attrs):
    x, y = ctx.inputs[0], ctx.outputs[0]
    options = (f"-DFN_{_op_type}=1",) + tuple(f"-DP_{k}={v!r}f" for k, v in zip("AB", params(_op_type, **attrs)))
    options += ("-DINT_ELEMS=1",) if np.dtype(x.dtype).kind in "iub" else ()
    n = int(np.prod(y.shape))
    ctx.kernel("math", "math", ((n + 3) // 4,), [x, y, np.int32(n)], options=options)


def _exact16(low, high, shape):
    """Fresh uniform values that fp16 storage holds exactly, so Floor/Ceil/Round see the same input either way."""
    return lambda rng: rng.uniform(low, high, shape).astype(np.float16).astype(np.float32)


def _halves(shape):
    """Integers and halves (Round's ties) with a little noise on some of them."""
    def make(rng):
        x = rng.integers(-12, 12, shape) / 2 + rng.choice([0.0, 0.0, 0.125, -0.25], shape)
        return x.astype(np.float32)
    return make


CASES = [
    Case("erf_odd", [uniform(-3, 3, (2, 5, 7, 3))], op_type="Erf"),
    Case("gelu_default", [uniform(-5, 5, (1, 7, 33))], op_type="Gelu"),
    Case("gelu_none", [(3, 17)], op_type="Gelu", attrs={"approximate": "none"}),
    Case("gelu_tanh", [uniform(-6, 6, (2, 3, 5, 5))], op_type="Gelu", attrs={"approximate": "tanh"}),
    Case("sqrt", [uniform(0, 9, (3, 7, 11))], op_type="Sqrt"),
    Case("reciprocal", [lambda rng: (rng.uniform(0.5, 4, (4, 9)) * rng.choice([-1, 1], (4, 9))).astype(np.float32)],
         op_type="Reciprocal"),
    Case("exp", [uniform(-4, 4, (2, 3, 13))], op_type="Exp"),
    Case("log", [uniform(0.05, 20, (5, 6, 7))], op_type="Log"),
    Case("floor", [_exact16(-6, 6, (3, 5, 9))], op_type="Floor"),
    Case("ceil", [_exact16(-6, 6, (2, 41))], op_type="Ceil"),
    Case("round_half_even", [_halves((4, 5, 6))], op_type="Round"),
    Case("sin", [uniform(-7, 7, (3, 13))], op_type="Sin"),
    Case("cos", [uniform(-7, 7, (1, 3, 5, 7))], op_type="Cos"),
    Case("tan", [uniform(-1.3, 1.3, (5, 11))], op_type="Tan"),
    Case("asin", [uniform(-0.99, 0.99, (2, 3, 7))], op_type="Asin"),
    Case("acos", [uniform(-0.99, 0.99, (6, 5))], op_type="Acos"),
    Case("atan", [uniform(-8, 8, (3, 4, 5))], op_type="Atan"),
    Case("sinh", [uniform(-4, 4, (7, 9))], op_type="Sinh"),
    Case("cosh", [uniform(-4, 4, (2, 2, 9))], op_type="Cosh"),
    Case("asinh", [uniform(-20, 20, (3, 15))], op_type="Asinh"),
    Case("acosh", [uniform(1.01, 20, (4, 7))], op_type="Acosh"),
    Case("atanh", [uniform(-0.95, 0.95, (5, 3, 3))], op_type="Atanh"),
    Case("softplus", [uniform(-30, 30, (2, 5, 13))], op_type="Softplus"),
    Case("softsign", [(3, 4, 7)], op_type="Softsign"),
    Case("elu_default", [(2, 3, 4, 5)], op_type="Elu"),
    Case("elu_alpha", [(1, 6, 5, 3)], op_type="Elu", attrs={"alpha": 0.3}),
    Case("selu_default", [(4, 19)], op_type="Selu"),
    Case("selu_alpha_gamma", [(2, 7, 3)], op_type="Selu", attrs={"alpha": 2.0, "gamma": 3.0}),
    Case("celu_default", [(3, 3, 3)], op_type="Celu"),
    Case("celu_alpha", [(5, 7)], op_type="Celu", attrs={"alpha": 2.5}),
    Case("mish", [uniform(-8, 8, (1, 5, 9, 9))], op_type="Mish"),
    Case("abs", [(3, 7, 5)], op_type="Abs"),
    Case("abs_int", [uniform(-100, 100, (4, 9), np.int32)], op_type="Abs"),
    Case("neg", [(2, 9, 3)], op_type="Neg"),
    Case("neg_int64", [uniform(-50, 50, (7,), np.int64)], op_type="Neg"),
    Case("sign", [_halves((3, 11))], op_type="Sign"),
    Case("not", [uniform(0, 1, (3, 5, 7), bool)], op_type="Not"),
]
