"""Add, Sub, Mul, Div with numpy broadcasting of either operand and an optional fused activation.

Broadcasting is planned on the host: the output's dims collapse into groups in which every operand either
spans the group or is broadcast over it. Same-shape, per-channel ([1,C,1,1] or [C,1,1]) and scalar operands
then need at most three groups (outer, mid, inner) and run the vectorised `binary3` kernel; rarer patterns run
`binary_nd`, which indexes every element through a small table of sizes and strides. PRelu (unary.py) reuses
this machinery with no second operand."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .activation import build_options
from .activation import reference as activation_reference
from .base import Case, Const, TensorInfo

OP_TYPES = ("Add", "Sub", "Mul", "Div")
OP_CODES = {"Add": 0, "Sub": 1, "Mul": 2, "Div": 3, None: 4}  # None: pass operand a through (PRelu)


def broadcast(op: str, *shapes) -> tuple[int, ...]:
    """NumPy's (= ONNX's multidirectional) broadcast of `shapes`; ConvertError naming them when they do not."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ConvertError(f"{op}: shapes {[list(s) for s in shapes]} do not broadcast") from None


def check_slope(op: str, out_shape, slope) -> None:
    """A fused PRelu's slope (the node's last input) broadcasts per channel onto the output."""
    if slope is None:
        raise ConvertError(f"{op}: a fused PRelu needs its slope as the last input")
    shape = slope_shape(int(np.prod(slope.shape)), len(out_shape))
    if broadcast(op, out_shape, shape) != tuple(out_shape):
        raise ConvertError(f"{op}: PRelu slope {list(slope.shape)} does not fit the output {list(out_shape)}")


def infer(a: TensorInfo, b: TensorInfo, *slope, _op_type=None, activation=None, **attrs):
    if a is None or b is None:
        raise ConvertError(f"{_op_type} needs two inputs")
    if np.dtype(a.dtype) != np.dtype(b.dtype):
        raise ConvertError(f"{_op_type} of {a.dtype} and {b.dtype}: ONNX gives both inputs one type")
    out = broadcast(_op_type, a.shape, b.shape)
    if activation == "PRelu":
        check_slope(_op_type, out, slope[-1] if slope else None)
    return [(out, a.dtype)]


def reference(a, b, *slope, _op_type="Add", activation=None, activation_params=(), **attrs):
    if _op_type == "Div" and np.issubdtype(a.dtype, np.integer):
        y = np.trunc(a / b).astype(a.dtype)  # ONNX integer Div truncates toward zero
    else:
        y = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[_op_type](a, b)
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


def launch_elementwise(ctx, operands, out, op, act_options, program="binary"):
    """Launch y = activate(op(a, b), slope) over broadcast operands (a, optional b, optional slope)."""
    present = [(name, ref, shape) for name, ref, shape in operands if ref is not None]
    dims, spans = collapse(out.shape, *[shape for _, _, shape in present])
    flags = tuple(f"-DHAS_{name.upper()}=1" for name, _, _ in present[1:])
    options = (f"-DOP={OP_CODES[op]}",) + flags + tuple(act_options)
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


def launch(ctx, _op_type="Add", activation=None, activation_params=(), **attrs):
    a, b, out = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]
    slope = ctx.inputs[-1] if activation == "PRelu" else None
    operands = [("a", a, a.shape), ("b", b, b.shape)]
    if slope is not None:
        operands.append(("s", slope, slope_shape(int(np.prod(slope.shape)), len(out.shape))))
    launch_elementwise(ctx, operands, out, _op_type, build_options(activation, activation_params))


def _nonzero(shape, seed):
    """Divisors kept away from zero so fp16 storage stays finite."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape)).astype(np.float32)


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
    Case("div_same", [(1, 4, 6, 6), _nonzero((1, 4, 6, 6), 1)], op_type="Div"),
    Case("div_channel", [(1, 12, 5, 5), _nonzero((1, 12, 1, 1), 2)], consts=(1,), op_type="Div"),
    Case("div_nd", [(3, 4, 2, 5), _nonzero((3, 1, 2, 1), 3)], op_type="Div"),
    Case("rank2", [(7, 33), (1, 33)], op_type="Add"),
    Case("add_relu", [(1, 6, 7, 7), (1, 6, 7, 7)], op_type="Add", attrs={"activation": "Relu"}),
    Case("add_clip6", [(1, 5, 9, 9), (1, 5, 1, 1)], consts=(1,), op_type="Add",
         attrs={"activation": "Clip", "activation_params": [0.0, 0.5]}),
    Case("mul_hardswish", [(1, 3, 5, 5), (1, 3, 5, 5)], op_type="Mul", attrs={"activation": "HardSwish"}),
    Case("add_prelu", [(1, 6, 5, 3), (1, 6, 5, 3), (6,)], consts=(2,), op_type="Add",
         attrs={"activation": "PRelu"}),
    Case("sub_leaky", [(2, 3, 4, 5), (1, 3, 1, 5)], op_type="Sub",
         attrs={"activation": "LeakyRelu", "activation_params": [0.1]}),
]
