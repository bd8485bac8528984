"""Quantized TFLite models, run in float.

Constant weights and biases are dequantized at import: real = (q - zero_point) * scale, per channel of the
tensor's quantized dimension. An int8/uint8 activation holds its real value in a float tensor. LiteRT's int8
kernels round every op's result to its output tensor's grid; `fake_quant` reproduces that rounding with a
QuantizeLinear → DequantizeLinear pair on the IR (ONNX semantics: round half to even, saturating), which keeps the
float run within a rounding step of the int8 runtime instead of drifting by accumulated quantization error
(benchmarks/NOTES.md has the measurements of both ways). Ops that only move or select values (TRANSPARENT)
need no rounding when their output's grid is their input's.

QUANTIZE and DEQUANTIZE of activations are then identities on the real value (QUANTIZE's rounding comes from
its output's fake-quant); quantized graph inputs are dequantized first, quantized graph outputs quantized last,
so the model keeps its int8/uint8 interface."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .tflite_reader import Quant, TfOp, TfTensor

TRANSPARENT = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "MAX_POOL_2D", "STRIDED_SLICE", "SLICE",
               "GATHER", "SPLIT", "SPLIT_V", "PACK", "UNPACK", "PAD", "PADV2", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH",
               "RESIZE_NEAREST_NEIGHBOR", "CONCATENATION", "MAXIMUM", "MINIMUM", "REDUCE_MAX", "RELU"}


def is_quantized(t: TfTensor) -> bool:
    return t.quant is not None and t.dtype in ("i1", "u1")


def _broadcast(values: np.ndarray, q: Quant, ndim: int) -> np.ndarray:
    if len(values) == 1:
        return values.reshape(())
    shape = [1] * ndim
    shape[q.axis] = len(values)
    return values.reshape(shape)


def dequantize(data: np.ndarray, q: Quant) -> np.ndarray:
    """A quantized constant's real values (float32)."""
    zero = _broadcast(q.zero_point, q, data.ndim)
    scale = _broadcast(q.scale.astype(np.float64), q, data.ndim)
    return ((data.astype(np.int64) - zero) * scale).astype(np.float32)


def _params(imp, i: int) -> list[str]:
    """The scale and zero point constants of activation i (activations are quantized per tensor)."""
    t = imp.tf[i]
    if len(t.quant.scale) != 1:
        raise ConvertError(f"tensor {t.name!r}: per-channel quantization of an activation is not supported")
    if t.quant.scale[0] <= 0:
        raise ConvertError(f"tensor {t.name!r}: quantization scale {t.quant.scale[0]}")
    info = np.iinfo(np.dtype(t.dtype))
    zero = int(t.quant.zero_point[0])
    if not info.min <= zero <= info.max:
        raise ConvertError(f"tensor {t.name!r}: zero point {zero} outside {np.dtype(t.dtype)}")
    key = (float(t.quant.scale[0]), zero, t.dtype)
    if key not in imp.quant_consts:
        imp.quant_consts[key] = [imp.const(np.array(key[0], np.float32), f"{imp.name(i)}/scale"),
                                 imp.const(np.array(zero, np.dtype(t.dtype)), f"{imp.name(i)}/zero_point")]
    return imp.quant_consts[key]


def _quantize(imp, src: str, i: int, out: str) -> str:
    t = imp.tf[i]
    shape = imp.tensors[src].shape
    return imp.add("QuantizeLinear", [src, *_params(imp, i)], out, shape, dtype=str(np.dtype(t.dtype)), axis=1)


def fake_quant(imp, src: str, i: int, out: str) -> str:
    """src (the float result of activation i) rounded to i's grid: QuantizeLinear → DequantizeLinear → `out`."""
    q = _quantize(imp, src, i, imp.fresh(f"{imp.name(i)}/quantized"))
    return imp.add("DequantizeLinear", [q, *_params(imp, i)], out, imp.tensors[src].shape, axis=1)


def dequantize_input(imp, i: int) -> str:
    name = imp.name(i)
    return imp.add("DequantizeLinear", [name, *_params(imp, i)], imp.fresh(name + "/real"), imp.tf[i].shape,
                   axis=1)


def quantize_output(imp, src: str, i: int) -> None:
    _quantize(imp, src, i, imp.name(i))


def _quantize_op(imp, op: TfOp) -> None:
    """QUANTIZE (float → int, or int → int with new parameters): the real value passes; its rounding is the
    output's fake-quant."""
    x, y = op.inputs[0], op.outputs[0]
    if not is_quantized(imp.tf[y]):
        raise ConvertError(f"QUANTIZE {imp.op_name(op)!r} to {imp.tf[y].dtype or 'an unknown type'} is not "
                           "supported (int8, uint8)")
    _identity(imp, op, x)


def _dequantize_op(imp, op: TfOp) -> None:
    """DEQUANTIZE of a constant (fp16 or int8 weights): folded into a float32 constant; of an activation: the
    real value passes."""
    x = op.inputs[0]
    if x in imp.consts:
        imp.consts[op.outputs[0]] = imp.float_const(x).astype(np.float32)
        return
    _identity(imp, op, x)


def _identity(imp, op: TfOp, x: int) -> None:
    shape = imp.ir_shape(op.outputs[0])
    imp.value[op.outputs[0]] = imp.add("Identity", [imp.act(x)], imp.out(op), shape)


IMPORTERS = {"QUANTIZE": _quantize_op, "DEQUANTIZE": _dequantize_op}
