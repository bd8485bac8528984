"""TFLite importers for compute ops: activations, elementwise math, reductions, resizing, FULLY_CONNECTED,
BATCH_MATMUL, TRANSPOSE_CONV and MediaPipe's custom Convolution2DTransposeBias. Each maps one TFLite op onto IR
ops (ONNX names, NCHW for 4-d tensors); see tflite.py for the layout rules."""
from __future__ import annotations

import struct

import numpy as np
import tflite

from ..errors import ConvertError, ModelError
from . import tflite as core
from .tflite_reader import TfOp


def _prelu(imp, op: TfOp) -> None:
    rank = len(imp.tf[op.outputs[0]].shape)
    imp.emit(op, "PRelu", [imp.act(op.inputs[0]), imp.as_nchw(op.inputs[1], rank)])


def _leaky_relu(imp, op: TfOp) -> None:
    imp.emit(op, "LeakyRelu", [imp.act(op.inputs[0])], alpha=float(op.options.get("Alpha", 0.0)))


def _unary_math(imp, op: TfOp) -> None:
    """Unary math on the IR's ops of the same meaning (RSQRT: 1 / Sqrt)."""
    x, i = imp.act(op.inputs[0]), op.outputs[0]
    if op.type == "RSQRT":
        root = imp.add("Sqrt", [x], imp.fresh(imp.name(i) + "/sqrt"), imp.ir_shape(i))
        imp.emit(op, "Div", [imp.const(np.array(1.0, np.float32), imp.name(i) + "/one"), root])
        return
    imp.emit(op, {"SQRT": "Sqrt", "EXP": "Exp", "LOG": "Log", "ABS": "Abs", "NEG": "Neg", "FLOOR": "Floor",
                  "CEIL": "Ceil", "ROUND": "Round", "SIN": "Sin", "COS": "Cos"}[op.type], [x])


def _min_max(imp, op: TfOp) -> None:
    rank = len(imp.tf[op.outputs[0]].shape)
    imp.emit(op, "Max" if op.type == "MAXIMUM" else "Min", [imp.as_nchw(i, rank) for i in op.inputs[:2]])


def _squared_difference(imp, op: TfOp) -> None:
    rank, i = len(imp.tf[op.outputs[0]].shape), op.outputs[0]
    d = imp.add("Sub", [imp.as_nchw(j, rank) for j in op.inputs[:2]], imp.fresh(imp.name(i) + "/diff"),
                imp.ir_shape(i))
    imp.emit(op, "Mul", [d, d])


_COMPARE = {"GREATER": "Greater", "GREATER_EQUAL": "GreaterOrEqual", "LESS": "Less", "LESS_EQUAL": "LessOrEqual",
            "EQUAL": "Equal", "NOT_EQUAL": "Equal", "LOGICAL_AND": "And", "LOGICAL_OR": "Or"}


def _compare(imp, op: TfOp) -> None:
    """Comparisons and logical ops: bool results (NOT_EQUAL is Not(Equal))."""
    rank, i = len(imp.tf[op.outputs[0]].shape), op.outputs[0]
    ins = [imp.as_nchw(j, rank) for j in op.inputs[:2]]
    if op.type != "NOT_EQUAL":
        imp.emit(op, _COMPARE[op.type], ins, dtype="bool")
        return
    eq = imp.add("Equal", ins, imp.fresh(imp.name(i) + "/equal"), imp.ir_shape(i), dtype="bool")
    imp.emit(op, "Not", [eq], dtype="bool")


def _logical_not(imp, op: TfOp) -> None:
    imp.emit(op, "Not", [imp.act(op.inputs[0])], dtype="bool")


def _select(imp, op: TfOp) -> None:
    """SELECT / SELECT_V2 (cond, x, y): ONNX's Where (SELECT_V2 broadcasts; SELECT's equal shapes do too)."""
    rank = len(imp.tf[op.outputs[0]].shape)
    imp.emit(op, "Where", [imp.as_nchw(j, rank) for j in op.inputs[:3]])


_REDUCERS = {"MEAN": "ReduceMean", "SUM": "ReduceSum", "REDUCE_MAX": "ReduceMax", "REDUCE_MIN": "ReduceMin",
             "REDUCE_PROD": "ReduceProd"}


def _reduce(imp, op: TfOp) -> None:
    x, y = op.inputs[0], op.outputs[0]
    rank, op_type = len(imp.tf[x].shape), _REDUCERS[op.type]
    axes = sorted({core.nchw_axis(a, rank) if rank == 4 else a % rank
                   for a in imp.ints(op.inputs[1], f"{op.type} axes")})
    keep = bool(op.options.get("KeepDims", False))
    if not axes:
        imp.emit(op, "Identity", [imp.act(x)])
        return
    if rank != 4 or keep:
        imp.emit(op, op_type, [imp.act(x)], axes=axes, keepdims=int(keep))
        return
    kept_nchw = [d for d in range(4) if d not in axes]  # the dims that remain, in NCHW order
    if [core.TO_NCHW[d] for d in kept_nchw] == sorted(core.TO_NCHW[d] for d in kept_nchw):
        imp.emit(op, op_type, [imp.act(x)], axes=axes, keepdims=0)  # same order as TFLite's
        return
    kept = tuple(1 if d in axes else n for d, n in enumerate(imp.ir_shape(x)))
    r = imp.add(op_type, [imp.act(x)], imp.fresh(imp.name(y) + "/keep"), kept, axes=axes, keepdims=1)
    nhwc = tuple(kept[p] for p in core.TO_NHWC)
    t = imp.add("Transpose", [r], imp.fresh(imp.name(y) + "/nhwc"), nhwc, perm=core.TO_NHWC)
    imp.emit(op, "Reshape", [t], shape=list(imp.tf[y].shape))


def _softmax(imp, op: TfOp) -> None:
    x, y = op.inputs[0], op.outputs[0]
    rank, src = len(imp.tf[x].shape), imp.act(x)
    beta = float(op.options.get("Beta", 1.0))
    if beta != 1.0:
        src = imp.add("Mul", [src, imp.const(np.array(beta, np.float32), imp.name(y) + "/beta")],
                      imp.fresh(imp.name(y) + "/scaled"), imp.ir_shape(x))
    imp.emit(op, "Softmax", [src], axis=core.nchw_axis(-1, rank))


def _resize(imp, op: TfOp) -> None:
    """RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR as IR Resize. TFLite's source coordinate is y·scale
    (asymmetric), (y + 0.5)·scale − 0.5 (half_pixel_centers) or y·(in − 1)/(out − 1) (align_corners); nearest
    takes floor(y·scale), floor((y + 0.5)·scale) or round-half-up — ONNX's floor / round_prefer_ceil."""
    x, y = op.inputs[0], op.outputs[0]
    size = imp.ints(op.inputs[1], f"{op.type} size")
    align, half = bool(op.options.get("AlignCorners")), bool(op.options.get("HalfPixelCenters"))
    if not imp.is_4d(x) or len(size) != 2 or list(imp.tf[y].shape[1:3]) != size:
        raise ModelError(f"{op.type} {imp.op_name(op)!r}: size {size} for {list(imp.tf[x].shape)} → "
                         f"{list(imp.tf[y].shape)}")
    if align and half:
        raise ConvertError(f"{op.type} {imp.op_name(op)!r}: align_corners with half_pixel_centers is not "
                           "supported")
    ctm = "align_corners" if align else "half_pixel" if half else "asymmetric"
    nearest = "floor" if not (align or half) else "round_prefer_ceil"
    mode = "linear" if op.type == "RESIZE_BILINEAR" else "nearest"
    imp.emit(op, "Resize", [imp.act(x)], mode=mode, coordinate_transformation_mode=ctm, nearest_mode=nearest,
             sizes=list(imp.ir_shape(y)))


def _fully_connected(imp, op: TfOp) -> None:
    """y = x · Wᵀ + b over x's rows of K = W.shape[1] (in TFLite's element order), reshaped to the output."""
    x, y = op.inputs[0], op.outputs[0]
    if op.options.get("WeightsFormat", 0) != tflite.FullyConnectedOptionsWeightsFormat.DEFAULT:
        raise ConvertError(f"FULLY_CONNECTED {imp.op_name(op)!r}: shuffled weights are not supported")
    w = imp.weights(op.inputs[1], "FULLY_CONNECTED weights")
    size = int(np.prod(imp.tf[x].shape, dtype=np.int64))
    if w.ndim != 2 or w.shape[1] == 0 or size % w.shape[1]:
        raise ModelError(f"FULLY_CONNECTED {imp.op_name(op)!r}: weights {list(w.shape)} for input "
                         f"{list(imp.tf[x].shape)}")
    rows, n = size // w.shape[1], w.shape[0]
    if int(np.prod(imp.tf[y].shape, dtype=np.int64)) != rows * n:
        raise ModelError(f"FULLY_CONNECTED {imp.op_name(op)!r}: output {list(imp.tf[y].shape)} is not "
                         f"{rows}x{n}")
    src = imp.tf_view(x)
    if imp.tf[x].shape != (rows, w.shape[1]):
        src = imp.add("Reshape", [src], imp.fresh(imp.name(x) + "/rows"), (rows, w.shape[1]),
                      shape=[rows, w.shape[1]])
    ins = [src, imp.const(w, imp.name(op.inputs[1]))]
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        ins.append(imp.const(imp.weights(op.inputs[2], "bias").reshape(-1), imp.name(op.inputs[2])))
    attrs = dict(alpha=1.0, beta=1.0, transA=0, transB=1, **imp.fused(op))
    if imp.tf[y].shape == (rows, n):
        imp.emit(op, "Gemm", ins, **attrs)
        return
    g = imp.add("Gemm", ins, imp.fresh(imp.name(y) + "/rows"), (rows, n), **attrs)
    imp.emit_tf(op, "Reshape", [g], shape=list(imp.tf[y].shape))


def _batch_matmul(imp, op: TfOp) -> None:
    ins = []
    for j, adjoint in zip(op.inputs[:2], (op.options.get("AdjX"), op.options.get("AdjY"))):
        shape = imp.tf[j].shape
        if len(shape) < 2:
            raise ModelError(f"BATCH_MATMUL {imp.op_name(op)!r}: operand of shape {list(shape)}")
        swap = list(range(len(shape) - 2)) + [len(shape) - 1, len(shape) - 2]
        if j in imp.consts:
            data = imp.weights(j, "BATCH_MATMUL operand")
            ins.append(imp.const(data.transpose(swap) if adjoint else data, imp.name(j)))
            continue
        src = imp.tf_view(j)
        if adjoint:
            src = imp.add("Transpose", [src], imp.fresh(imp.name(j) + "/adjoint"),
                          tuple(shape[p] for p in swap), perm=swap)
        ins.append(src)
    imp.emit_tf(op, "MatMul", ins)


def _transpose_conv_attrs(imp, op, x, w, out_hw, pads_begin) -> dict:
    """ConvTranspose attributes for TFLite's scatter `out[y·s − pad + k] += …`, cropped to `out_hw`."""
    s = [op.options["StrideH"], op.options["StrideW"]]
    k, size = list(w.shape[1:3]), imp.tf[x].shape[1:3]
    full = [st * (n - 1) + kk for st, n, kk in zip(s, size, k)]
    ends = [f - o - b for f, o, b in zip(full, out_hw, pads_begin)]
    if any(b < 0 for b in pads_begin):
        raise ModelError(f"{op.type} {imp.op_name(op)!r}: output {out_hw} for input {list(size)}")
    return dict(kernel_shape=k, strides=s, dilations=[1, 1], group=1, pads=pads_begin + [max(e, 0) for e in ends],
                output_padding=[max(-e, 0) for e in ends])


def _conv_transpose(imp, op: TfOp, x: int, w_i: int, b_i: int, out_hw, pads_begin) -> None:
    w = imp.weights(w_i, f"{op.type} weights")
    if not imp.is_4d(x) or w.ndim != 4 or w.shape[3] != imp.tf[x].shape[3]:
        raise ConvertError(f"{op.type} {imp.op_name(op)!r}: weights {list(w.shape)} for input "
                           f"{list(imp.tf[x].shape)}")
    attrs = _transpose_conv_attrs(imp, op, x, w, list(out_hw), pads_begin)
    ins = [imp.act(x), imp.const(w.transpose(3, 0, 1, 2), imp.name(w_i))]  # OHWI → [C_in, C_out, kH, kW]
    if b_i >= 0:
        ins.append(imp.const(imp.weights(b_i, f"{op.type} bias").reshape(-1), imp.name(b_i)))
    imp.emit(op, "ConvTranspose", ins, **attrs, **imp.fused(op))


def _transpose_conv(imp, op: TfOp) -> None:
    """TRANSPOSE_CONV (output_shape, weights OHWI, input, bias): the padding is the one of the forward conv from
    the output back to the input (TFLite's ComputePaddingHeightWidth), its odd pixel at the end."""
    shape_i, w_i, x = op.inputs[:3]
    out = imp.ints(shape_i, "TRANSPOSE_CONV output_shape")
    if out != list(imp.tf[op.outputs[0]].shape):
        raise ModelError(f"TRANSPOSE_CONV {imp.op_name(op)!r}: output_shape {out}, tensor "
                         f"{list(imp.tf[op.outputs[0]].shape)}")
    begin = [0, 0]
    if op.options["Padding"] == tflite.Padding.SAME:
        k = imp.tf[w_i].shape[1:3]
        s = [op.options["StrideH"], op.options["StrideW"]]
        begin = [max((n - 1) * st + kk - o, 0) // 2 for n, st, kk, o in zip(imp.tf[x].shape[1:3], s, k, out[1:3])]
    b_i = op.inputs[3] if len(op.inputs) > 3 else -1
    _conv_transpose(imp, op, x, w_i, b_i, out[1:3], begin)


def _transpose_conv_bias(imp, op: TfOp) -> None:
    """MediaPipe's Convolution2DTransposeBias (input, weights OHWI, bias), from
    mediapipe/util/tflite/operations/transpose_conv_bias.cc: custom options are TfLiteTransposeConvParams
    (int32 padding 1 = SAME / 2 = VALID, stride_width, stride_height); the output is s·(in − 1) + k − p with
    p = max(0, k − (in − 1) mod s − 1) for SAME (0 for VALID), and its scatter starts p / 2 pixels early."""
    if len(op.custom_options) < 12:
        raise ModelError(f"{op.type} {imp.op_name(op)!r}: {len(op.custom_options)} bytes of options, not "
                         "TfLiteTransposeConvParams")
    padding, stride_w, stride_h = struct.unpack_from("<3i", op.custom_options)
    if padding not in (1, 2) or stride_w < 1 or stride_h < 1:
        raise ModelError(f"{op.type} {imp.op_name(op)!r}: padding {padding}, strides {stride_h}x{stride_w}")
    x, w_i, b_i = op.inputs[:3]
    op.options = {"StrideH": stride_h, "StrideW": stride_w}
    k, size = imp.tf[w_i].shape[1:3], imp.tf[x].shape[1:3]
    total = [max(0, kk - (n - 1) % s - 1) if padding == 1 else 0 for kk, n, s in zip(k, size, (stride_h, stride_w))]
    out = [s * (n - 1) + kk - t for s, n, kk, t in zip((stride_h, stride_w), size, k, total)]
    if out != list(imp.tf[op.outputs[0]].shape[1:3]):
        raise ModelError(f"{op.type} {imp.op_name(op)!r}: computes {out}, the tensor says "
                         f"{list(imp.tf[op.outputs[0]].shape)}")
    _conv_transpose(imp, op, x, w_i, b_i, out, [t // 2 for t in total])


IMPORTERS = {"PRELU": _prelu, "LEAKY_RELU": _leaky_relu, "MAXIMUM": _min_max, "MINIMUM": _min_max,
             "SQUARED_DIFFERENCE": _squared_difference, "SOFTMAX": _softmax, "RESIZE_BILINEAR": _resize,
             "RESIZE_NEAREST_NEIGHBOR": _resize, "FULLY_CONNECTED": _fully_connected,
             "BATCH_MATMUL": _batch_matmul, "TRANSPOSE_CONV": _transpose_conv,
             "CUSTOM:Convolution2DTransposeBias": _transpose_conv_bias, "LOGICAL_NOT": _logical_not,
             "SELECT": _select, "SELECT_V2": _select, **{k: _compare for k in _COMPARE},
             **{k: _reduce for k in _REDUCERS},
             **{k: _unary_math for k in ("RSQRT", "SQRT", "EXP", "LOG", "ABS", "NEG", "FLOOR", "CEIL", "ROUND",
                                         "SIN", "COS")}}
