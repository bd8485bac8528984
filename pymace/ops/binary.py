"""Add, Sub, Mul, Div, Pow, Mod and the variadic Max, Min, Mean, Sum, with numpy (multidirectional) broadcasting
and, for Add/Sub/Mul/Div, an optional fused activation.

Broadcasting is planned on the host: the output's dims collapse into groups in which every operand either
spans the group or is broadcast over it. Same-shape, per-channel ([1,C,1,1] or [C,1,1]) and scalar operands
then need at most three groups (outer, mid, inner) and run the vectorised `binary3` kernel; rarer patterns run
`binary_nd`, which indexes every element through a small table of sizes and strides. A variadic op of n inputs
is n - 1 such launches, each partial result in scratch. PRelu (unary.py), the comparisons (compare.py) and Where
(where.py) reuse this machinery. Integer and bool tensors are int32 buffers on the device (docs/ir.md): an op whose
operands and output all are computes in int (Div truncates toward zero, Pow and Mod are exact), otherwise in
float."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .activation import build_options
from .activation import reference as activation_reference
from .base import Case, Const, Scratch, TensorInfo, broadcast, need_dtype, uniform

OP_TYPES = ("Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Mean", "Sum")
VARIADIC = ("Max", "Min", "Mean", "Sum")
# binary.cl's OP: None passes operand a through (PRelu); FMod: Mod with fmod=1; MeanLast: a Mean's last Add
OP_CODES = {"Add": 0, "Sub": 1, "Mul": 2, "Div": 3, None: 4, "Pow": 5, "Mod": 6, "FMod": 7, "Max": 8, "Min": 9,
            "MeanLast": 11, "Equal": 12, "Less": 13, "Greater": 14, "LessOrEqual": 15, "GreaterOrEqual": 16,
            "And": 17, "Or": 18, "Xor": 19, "Where": 20}
_NUMPY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Max": np.maximum, "Min": np.minimum,
          "Sum": np.add, "Mean": np.add}


def same_dtypes(op: str, *infos: TensorInfo) -> None:
    """ONNX ties the operands' types; floats of different widths are let through (the first one's wins)."""
    kinds = {np.dtype(t.dtype).kind if np.dtype(t.dtype).kind == "f" else t.dtype for t in infos}
    if len(kinds) > 1:
        raise ConvertError(f"{op}: operand dtypes {[t.dtype for t in infos]} differ")


def infer(*ins: TensorInfo, _op_type="Add", fmod=0, activation=None, **attrs):
    operands = [t for t in ins if t is not None]
    if _op_type in VARIADIC:
        if not operands:
            raise ConvertError(f"{_op_type} needs at least one input")
        same_dtypes(_op_type, *operands)
        need_dtype(_op_type, operands[0], "f" if _op_type == "Mean" else "fiu")
        return [(broadcast(*[t.shape for t in operands]), operands[0].dtype)]
    if len(operands) < 2:
        raise ConvertError(f"{_op_type} needs two inputs, got {len(operands)}")
    a, b = operands[:2]
    if _op_type == "Pow":
        need_dtype("Pow", a, "fiu", "the base")
        need_dtype("Pow", b, "fiu", "the exponent")
    else:
        same_dtypes(_op_type, a, b)
        need_dtype(_op_type, a, "fiu")
    if _op_type == "Mod" and int(fmod) not in (0, 1):
        raise ConvertError(f"Mod: fmod must be 0 or 1, not {fmod}")
    if activation is not None and _op_type not in ("Add", "Sub", "Mul", "Div"):
        raise ConvertError(f"{_op_type} takes no fused activation")
    return [(broadcast(a.shape, b.shape), a.dtype)]


def _combine(op: str, a, b, fmod=0):
    integer = np.issubdtype(a.dtype, np.integer)
    if op == "Div":
        return np.trunc(a / b).astype(a.dtype) if integer else np.divide(a, b)  # ONNX integer Div truncates
    if op == "Pow":  # in float64, so integer bases take negative exponents; the base's type is the result's
        return np.power(a.astype(np.float64), b.astype(np.float64)).astype(a.dtype)
    if op == "Mod":
        return np.fmod(a, b) if int(fmod) else np.mod(a, b)
    return _NUMPY[op](a, b)


def reference(*ins, _op_type="Add", activation=None, activation_params=(), fmod=0, **attrs):
    if _op_type in VARIADIC:
        y = ins[0]
        for x in ins[1:]:
            y = _combine(_op_type, y, x)
        y = y / len(ins) if _op_type == "Mean" else y
        return [np.asarray(y).astype(ins[0].dtype, copy=False)]
    a, b, slope = ins[0], ins[1], ins[2:]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # ±inf, NaN are results, as in ONNX
        y = _combine(_op_type, a, b, fmod)
    y = activation_reference(y, activation, activation_params, slope[-1] if slope else None)
    return [np.asarray(y).astype(a.dtype, copy=False)]


def collapse(out_shape, *shapes) -> tuple[list[int], list[list[bool]]]:
    """Group the output's dims so each operand spans or is broadcast over whole groups; dims of size 1 vanish.
    Returns the group sizes and, per operand, whether it spans each group."""
    padded = [(1,) * (len(out_shape) - len(s)) + tuple(s) for s in shapes]
    dims: list[int] = []
    spans: list[list[bool]] = [[] for _ in shapes]
    for d, n in enumerate(out_shape):
        if n == 1:
            continue
        flags = [p[d] == n for p in padded]
        if dims and all(sp[-1] == f for sp, f in zip(spans, flags, strict=True)):
            dims[-1] *= n
        else:
            dims.append(n)
            for sp, f in zip(spans, flags, strict=True):
                sp.append(f)
    return dims or [1], [sp or [False] for sp in spans]


def strides(dims, span) -> list[int]:
    """Element strides of an operand contiguous over the groups it spans and broadcast over the rest."""
    out, step = [0] * len(dims), 1
    for g in reversed(range(len(dims))):
        if span[g]:
            out[g], step = step, step * dims[g]
    return out


def int_flag(name: str, ref) -> str:
    """-D<NAME>_INT=1 when the tensor is an int32 buffer on the device (an integer or bool IR dtype; Scratch and
    Const hold the storage type)."""
    dtype = getattr(ref, "dtype", "float32")
    return f"-D{name.upper()}_INT={int(np.dtype(dtype).kind in 'iub')}"


def launch_elementwise(ctx, operands, out, op, act_options, program="binary", out_shape=None, extra=()):
    """Launch y = activate(op(a, b, s), s) over broadcast operands (a, optional b, optional third operand s:
    PRelu's slope or Where's y). `out` may be Scratch (then `out_shape` gives its shape); `extra`: more options."""
    present = [(name, ref, shape) for name, ref, shape in operands if ref is not None]
    shape = tuple(out.shape if out_shape is None else out_shape)
    dims, spans = collapse(shape, *[shape for _, _, shape in present])
    flags = tuple(f"-DHAS_{name.upper()}=1" for name, _, _ in present[1:])
    types = tuple(int_flag(name, ref) for name, ref, _ in present) + (int_flag("y", out),)
    options = (f"-DOP={OP_CODES[op]}",) + flags + types + tuple(act_options) + tuple(extra)
    if len(dims) <= 3:
        dims = [1] * (3 - len(dims)) + dims
        args, vec = [], []
        for (name, ref, _), span in zip(present, spans, strict=True):
            st = strides(dims, [False] * (3 - len(span)) + span)
            args += [ref, np.int32(st[0]), np.int32(st[1])]
            vec.append(f"-D{name.upper()}_VEC={int(st[2] == 1)}")
        outer, mid, inner = dims
        options += tuple(vec) + (f"-DALIGNED={int(inner % 4 == 0)}",)
        ctx.kernel(program, "binary3", ((inner + 3) // 4, mid, outer),
                   args + [out, np.int32(mid), np.int32(inner), np.int32(outer)], options=options)
        return
    table = np.array(dims + [s for span in spans for s in strides(dims, span)], np.int32)
    n = int(np.prod(dims))
    ctx.kernel(program, "binary_nd", (n,), [ref for _, ref, _ in present] + [out, Const(table), np.int32(n)],
               options=options + (f"-DRANK={len(dims)}",))


def slope_shape(slope_size: int, rank: int) -> tuple[int, ...]:
    """A fused PRelu slope broadcasts per channel (axis 1), as activation.reference does."""
    return (1, slope_size) + (1,) * (rank - 2) if slope_size > 1 else (1,)


def launch(ctx, _op_type="Add", activation=None, activation_params=(), fmod=0, **attrs):
    if _op_type in VARIADIC:
        launch_variadic(ctx, _op_type)
        return
    a, b, out = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]
    slope = ctx.inputs[-1] if activation == "PRelu" else None
    operands = [("a", a, a.shape), ("b", b, b.shape)]
    if slope is not None:
        operands.append(("s", slope, slope_shape(int(np.prod(slope.shape)), len(out.shape))))
    op = "FMod" if _op_type == "Mod" and int(fmod) else _op_type
    launch_elementwise(ctx, operands, out, op, build_options(activation, activation_params))


def launch_variadic(ctx, op: str) -> None:
    """x0 op x1 op … as n - 1 launches (a copy for one input), partial results in scratch; Mean scales the last."""
    ins, out = [x for x in ctx.inputs if x is not None], ctx.outputs[0]
    if len(ins) == 1:
        launch_elementwise(ctx, [("a", ins[0], ins[0].shape)], out, None, ())
        return
    acc, acc_shape = ins[0], tuple(ins[0].shape)
    for k, x in enumerate(ins[1:], 1):
        last = k == len(ins) - 1
        shape = tuple(out.shape) if last else broadcast(acc_shape, x.shape)
        dst = out if last else Scratch(int(np.prod(shape)))
        step = {"Sum": "Add", "Mean": "MeanLast" if last else "Add"}.get(op, op)
        extra = (f"-DSCALE={1.0 / len(ins)!r}f",) if step == "MeanLast" else ()
        launch_elementwise(ctx, [("a", acc, acc_shape), ("b", x, x.shape)], dst, step, (), out_shape=shape,
                           extra=extra)
        acc, acc_shape = dst, shape


def _nonzero(shape):
    """Fresh divisors kept away from zero so fp16 storage stays finite."""
    return lambda rng: (rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape)).astype(np.float32)


def _exact16(low, high, shape):
    """Fresh values fp16 storage holds exactly, for ops whose result jumps (Mod) at points rounding could cross."""
    return lambda rng: rng.uniform(low, high, shape).astype(np.float16).astype(np.float32)


CASES = [
    Case("same_shape_odd", [(1, 5, 7, 9), (1, 5, 7, 9)], op_type="Add"),
    Case("same_shape_vec", [(2, 8, 16, 16), (2, 8, 16, 16)], op_type="Mul"),
    Case("channel_const", [(1, 6, 13, 11), (1, 6, 1, 1)], consts=(1,), op_type="Add"),
    Case("channel_rank3_const", [(2, 7, 5, 5), (7, 1, 1)], consts=(1,), op_type="Mul"),
    Case("scalar_const", [(1, 3, 10, 10), np.array(0.75, np.float32)], consts=(1,), op_type="Sub"),
    Case("scalar_first", [(1,), (2, 3, 5, 6)], op_type="Sub"),
    Case("channel_first_operand", [(1, 5, 1, 1), (2, 5, 4, 3)], op_type="Sub"),
    Case("row_broadcast", [(2, 3, 4, 9), (9,)], op_type="Add"),
    Case("both_ways", [(3, 1, 10), (1, 4, 1)], op_type="Mul"),
    Case("both_ways_nd", [(2, 1, 5, 1), (1, 3, 1, 7)], op_type="Add"),
    Case("nd_fallback", [(2, 3, 4, 5), (1, 3, 1, 5)], op_type="Mul"),
    Case("div_same", [(1, 4, 6, 6), _nonzero((1, 4, 6, 6))], op_type="Div"),
    Case("div_channel", [(1, 12, 5, 5), _nonzero((1, 12, 1, 1))], consts=(1,), op_type="Div"),
    Case("div_nd", [(3, 4, 2, 5), _nonzero((3, 1, 2, 1))], op_type="Div"),
    Case("rank2", [(7, 33), (1, 33)], op_type="Add"),
    Case("add_relu", [(1, 6, 7, 7), (1, 6, 7, 7)], op_type="Add", attrs={"activation": "Relu"}),
    Case("add_clip6", [(1, 5, 9, 9), (1, 5, 1, 1)], consts=(1,), op_type="Add",
         attrs={"activation": "Clip", "activation_params": [0.0, 0.5]}),
    Case("mul_hardswish", [(1, 3, 5, 5), (1, 3, 5, 5)], op_type="Mul", attrs={"activation": "HardSwish"}),
    Case("add_prelu", [(1, 6, 5, 3), (1, 6, 5, 3), (6,)], consts=(2,), op_type="Add",
         attrs={"activation": "PRelu"}),
    Case("sub_leaky", [(2, 3, 4, 5), (1, 3, 1, 5)], op_type="Sub",
         attrs={"activation": "LeakyRelu", "activation_params": [0.1]}),
    Case("pow_same", [uniform(0.1, 3, (2, 5, 7)), uniform(-2, 2, (2, 5, 7))], op_type="Pow"),
    Case("pow_square_const", [(3, 4, 9), np.array(2.0, np.float32)], consts=(1,), op_type="Pow"),
    Case("pow_negative_base_int_exponent", [(2, 3, 5), uniform(0, 4, (5,), np.int64)], consts=(1,),
         op_type="Pow"),
    Case("pow_sqrt_broadcast", [uniform(0, 4, (1, 6, 1)), uniform(0.5, 0.5001, (4, 1, 3))], op_type="Pow"),
    Case("pow_int", [uniform(-5, 6, (3, 4), np.int32), uniform(0, 4, (3, 4), np.int32)], op_type="Pow"),
    Case("mod_float_fmod", [_exact16(-9, 9, (2, 3, 7)), _exact16(0.5, 3, (3, 1))], op_type="Mod",
         attrs={"fmod": 1}),
    Case("mod_int", [uniform(-40, 40, (3, 5, 6), np.int32), lambda rng: (rng.integers(1, 9, (5, 1)) *
                                                                          rng.choice([-1, 1], (5, 1))).astype(
        np.int32)], op_type="Mod"),
    Case("mod_int_fmod", [uniform(-40, 40, (7, 9), np.int64), np.array([3, -4, 5, 7, -2, 6, 9, -1, 11],
                                                                       np.int64)], consts=(1,), op_type="Mod",
         attrs={"fmod": 1}),
    Case("div_int", [uniform(-1000, 1000, (5, 13), np.int32), lambda rng: (rng.integers(1, 30, (13,)) *
                                                                            rng.choice([-1, 1], 13)).astype(
        np.int32)], op_type="Div"),
    Case("max_one", [(3, 5)], op_type="Max"),
    Case("max_two_broadcast", [(2, 1, 5), (3, 1)], op_type="Max"),
    Case("max_three", [(1, 4, 5, 6), (4, 1, 1), (1, 6)], op_type="Max"),
    Case("min_four", [(2, 3, 4), (3, 4), (2, 1, 4), (1,)], op_type="Min"),
    Case("min_int", [uniform(-9, 9, (4, 6), np.int64), uniform(-9, 9, (6,), np.int64)], op_type="Min"),
    Case("mean_three", [(3, 1, 7), (1, 5, 7), (3, 5, 1)], op_type="Mean"),
    Case("mean_one", [(2, 9)], op_type="Mean"),
    Case("sum_two_nd", [(2, 3, 4, 5), (1, 3, 1, 5)], op_type="Sum"),
    Case("sum_four", [(5, 6), (6,), (5, 1), (1, 6)], op_type="Sum"),
]
