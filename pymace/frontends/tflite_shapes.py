"""Shapes of a TFLite model at input shapes other than the file's own (inputs whose shape_signature has -1 dims,
given with `--input-shape`).

A .tflite file stores every tensor's shape for one input shape (1 where the signature says -1), and the importers
read those shapes. When an input is given another shape, `update` recomputes each operator's output shapes from
its inputs' (TFLite's own layout) just before the operator is imported, so every importer sees the shapes of this
run. An operator without a rule keeps the file's output shapes as long as its inputs kept theirs; otherwise the
model is refused in one line naming the operator."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError, ModelError

_SAME_SHAPE = {"RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "HARD_SWISH", "LEAKY_RELU", "PRELU", "SQRT",
               "RSQRT", "EXP", "LOG", "ABS", "NEG", "FLOOR", "CEIL", "ROUND", "SIN", "COS", "QUANTIZE",
               "DEQUANTIZE", "SOFTMAX", "LOG_SOFTMAX", "ELU", "GELU", "CAST", "SQUARE", "LOGICAL_NOT"}
_BROADCAST = {"ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "POW", "GREATER",
              "GREATER_EQUAL", "LESS", "LESS_EQUAL", "EQUAL", "NOT_EQUAL", "FLOOR_DIV", "FLOOR_MOD",
              "LOGICAL_AND", "LOGICAL_OR"}


def _window(size: int, k: int, s: int, d: int, same: bool) -> int:
    if same:
        return -(-size // s)
    out = (size - (k - 1) * d - 1) // s + 1
    if out < 1:
        raise ConvertError(f"a window of {k} (dilation {d}) does not fit an input of {size}")
    return out


def _conv(imp, op) -> list:
    import tflite

    x, w = imp.tf[op.inputs[0]].shape, imp.tf[op.inputs[1]].shape
    o, same = op.options, op.options["Padding"] == tflite.Padding.SAME
    h = _window(x[1], w[1], o["StrideH"], o["DilationHFactor"], same)
    wd = _window(x[2], w[2], o["StrideW"], o["DilationWFactor"], same)
    return [(x[0], h, wd, w[0] if op.type == "CONV_2D" else w[3])]


def _pool(imp, op) -> list:
    import tflite

    x, o = imp.tf[op.inputs[0]].shape, op.options
    same = o["Padding"] == tflite.Padding.SAME
    return [(x[0], _window(x[1], o["FilterHeight"], o["StrideH"], 1, same),
             _window(x[2], o["FilterWidth"], o["StrideW"], 1, same), x[3])]


def _expand_dims(imp, op) -> list:
    x = list(imp.tf[op.inputs[0]].shape)
    axis = imp.ints(op.inputs[1], "EXPAND_DIMS axis")[0]
    x.insert(axis + len(x) + 1 if axis < 0 else axis, 1)
    return [tuple(x)]


def _squeeze(imp, op) -> list:
    x = imp.tf[op.inputs[0]].shape
    dims = {d % len(x) for d in op.options.get("SqueezeDims", [])} or {d for d, n in enumerate(x) if n == 1}
    if any(x[d] != 1 for d in dims):
        raise ConvertError(f"SQUEEZE of dims {sorted(dims)} of {list(x)}")
    return [tuple(n for d, n in enumerate(x) if d not in dims)]


def _transpose(imp, op) -> list:
    x = imp.tf[op.inputs[0]].shape
    return [tuple(x[p % len(x)] for p in imp.ints(op.inputs[1], "TRANSPOSE perm"))]


def _reshape(imp, op) -> list:
    x = imp.tf[op.inputs[0]].shape
    if len(op.inputs) > 1 and op.inputs[1] >= 0:
        shape = imp.ints(op.inputs[1], "RESHAPE shape")
    else:
        shape = list(op.options.get("NewShape", []))
    size = int(np.prod(x, dtype=np.int64))
    if shape.count(-1) == 1:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        shape[shape.index(-1)] = size // known if known else 0
    if int(np.prod(shape, dtype=np.int64)) != size:
        raise ConvertError(f"RESHAPE of {list(x)} to {shape}: the new shape is fixed in the file for another "
                           "input shape")
    return [tuple(shape)]


def _batch_matmul(imp, op) -> list:
    a, b = imp.tf[op.inputs[0]].shape, imp.tf[op.inputs[1]].shape
    m, ka = (a[-1], a[-2]) if op.options.get("AdjX") else (a[-2], a[-1])
    kb, n = (b[-1], b[-2]) if op.options.get("AdjY") else (b[-2], b[-1])
    if ka != kb:
        raise ConvertError(f"BATCH_MATMUL of {list(a)} and {list(b)}")
    return [tuple(np.broadcast_shapes(a[:-2], b[:-2])) + (m, n)]


def _fully_connected(imp, op) -> list:
    x, w = imp.tf[op.inputs[0]].shape, imp.tf[op.inputs[1]].shape
    if op.options.get("KeepNumDims"):
        return [tuple(x[:-1]) + (w[0],)]
    return [(int(np.prod(x, dtype=np.int64)) // w[1], w[0])]


def _reduce(imp, op) -> list:
    x = imp.tf[op.inputs[0]].shape
    axes = {a % len(x) for a in imp.ints(op.inputs[1], f"{op.type} axes")}
    if op.options.get("KeepDims"):
        return [tuple(1 if d in axes else n for d, n in enumerate(x))]
    return [tuple(n for d, n in enumerate(x) if d not in axes)]


def _concat(imp, op) -> list:
    shapes = [imp.tf[i].shape for i in op.inputs]
    axis = op.options.get("Axis", 0) % len(shapes[0])
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    return [tuple(out)]


def _pad(imp, op) -> list:
    x = imp.tf[op.inputs[0]].shape
    p = np.asarray(imp.const_of(op.inputs[1], "PAD paddings")).reshape(-1, 2)
    return [tuple(int(n + a + b) for n, (a, b) in zip(x, p))]


def _strided_slice(imp, op) -> list:
    from .tflite_tensor_ops import strided_slice_plan

    ints = [imp.ints(op.inputs[j], "STRIDED_SLICE parameters") for j in (1, 2, 3)]
    return [tuple(strided_slice_plan(imp.tf[op.inputs[0]].shape, *ints, op.options)[1])]


def _slice(imp, op) -> list:
    x = imp.tf[op.inputs[0]].shape
    begin, size = imp.ints(op.inputs[1], "SLICE begin"), imp.ints(op.inputs[2], "SLICE size")
    return [tuple(n - b if s == -1 else s for n, b, s in zip(x, begin, size))]


def _resize(imp, op) -> list:
    x = imp.tf[op.inputs[0]].shape
    h, w = imp.ints(op.inputs[1], f"{op.type} size")
    return [(x[0], h, w, x[3])]


def _gather(imp, op) -> list:
    x, idx = imp.tf[op.inputs[0]].shape, imp.tf[op.inputs[1]].shape
    axis = op.options.get("Axis", 0) % len(x)
    return [tuple(x[:axis]) + tuple(idx) + tuple(x[axis + 1:])]


RULES = {"CONV_2D": _conv, "DEPTHWISE_CONV_2D": _conv, "MAX_POOL_2D": _pool, "AVERAGE_POOL_2D": _pool,
         "EXPAND_DIMS": _expand_dims, "SQUEEZE": _squeeze, "TRANSPOSE": _transpose, "RESHAPE": _reshape,
         "BATCH_MATMUL": _batch_matmul, "FULLY_CONNECTED": _fully_connected, "CONCATENATION": _concat,
         "PAD": _pad, "PADV2": _pad, "STRIDED_SLICE": _strided_slice, "SLICE": _slice,
         "RESIZE_BILINEAR": _resize, "RESIZE_NEAREST_NEIGHBOR": _resize, "GATHER": _gather,
         "SHAPE": lambda imp, op: [(len(imp.tf[op.inputs[0]].shape),)],
         "IF": lambda imp, op: [imp.tf[o].shape for o in op.outputs],  # tflite_control sets them from the branch
         **{k: _reduce for k in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD")},
         **{k: lambda imp, op: [imp.tf[op.inputs[0]].shape] for k in _SAME_SHAPE},
         **{k: lambda imp, op: [tuple(np.broadcast_shapes(*(imp.tf[i].shape for i in op.inputs[:2])))]
            for k in _BROADCAST}}


def _mediapipe(imp, op) -> list:
    from .tflite_mediapipe import output_shapes

    return output_shapes(imp, op)


RULES.update({k: _mediapipe for k in ("CUSTOM:Landmarks2TransformMatrix", "CUSTOM:TransformTensorBilinear",
                                      "CUSTOM:TransformLandmarks")})


def update(imp, op) -> None:
    """Set the shapes of op's outputs (imp.tf[o].shape) from its inputs' current shapes."""
    rule = RULES.get(op.type)
    if rule is None:
        if any(i >= 0 and imp.tf[i].shape != imp.file_shapes[i] for i in op.inputs):
            raise ConvertError(f"{op.type} {imp.op_name(op)!r}: pymace cannot work out its output shape for the "
                               "input shapes given (--input-shape); convert at the model's own input shape")
        return
    try:
        shapes = rule(imp, op)
    except (ValueError, IndexError, KeyError, ConvertError, ModelError) as e:
        raise ConvertError(f"{op.type} {imp.op_name(op)!r} at the input shapes given (--input-shape): "
                           f"{e}") from None
    for o, shape in zip(op.outputs, shapes):
        imp.tf[o].shape = tuple(int(d) for d in shape)
