"""ONNX quantized graphs → pymace IR, computed in float (frontends/onnx.py registers IMPORTERS).

QDQ graphs need nothing special: QuantizeLinear / DequantizeLinear are IR ops, a DequantizeLinear of a constant
int8 weight folds into a float32 weight at import (every node of constant inputs does), and the Q → DQ pairs on
activations stay, so values are rounded to the same grid as onnxruntime's int8 kernels. The operator-form ops
become that same QDQ form: QLinearConv = DQ(x) → Conv(DQ(w), bias · x_scale · w_scale) → Q(y), QLinearMatMul
likewise. ConvInteger / MatMulInteger compute (x − x_zero)·(w − w_zero) exactly in float32 (integers below 2²⁴)
and Cast it to their int32 outputs, so the int32 arithmetic that follows them in the graph (a dynamically
quantized bias added before the Cast to float) sees ONNX's types."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from ..ops import geometry
from .onnx_conv_pool import explicit_attrs, resolve_window, spatial_attrs


def _attrs(n, keys=("axis", "block_size", "output_dtype")) -> dict:
    return {"axis": int(n.get("axis", 1)), **{k: int(n.get(k)) for k in keys[1:] if n.get(k) is not None}}


def _quantize_linear(imp, n) -> None:
    if int(n.get("saturate", 1)) != 1:
        raise ConvertError(f"node {n.name!r} (QuantizeLinear): saturate=0 applies to float8 only")
    imp.emit("QuantizeLinear", n.inputs[:3], n.outputs, _attrs(n), n.name)


def _dequantize_linear(imp, n) -> None:
    _dequantize(imp, n, n.inputs[:3], n.outputs[0], _attrs(n), n.name)


def _dequantize(imp, n, ins: list[str], out: str, attrs: dict, name: str) -> None:
    """DequantizeLinear, or — when its per-tensor or per-axis scale or zero point is computed at run time
    (DynamicQuantizeLinear's, or a graph input) — the same arithmetic as Cast, Sub and Mul:
    (float(x) − float(zero)) · scale, a per-axis parameter reshaped to broadcast along its axis."""
    dynamic = [i for i in ins[1:] if i and imp.info(n, i).value is None]
    if not dynamic or attrs.get("block_size"):  # blocked: the op itself (its reference; no device kernel)
        imp.emit("DequantizeLinear", ins, [out], attrs, name)
        return
    ins = [ins[0]] + [_along_axis(imp, n, p, ins[0], attrs.get("axis", 1), name) if p else p for p in ins[1:]]
    scale = imp.info(n, ins[1]).value
    unit = scale is not None and bool(np.all(scale == 1))  # the *Integer ops' (x − zero)
    has_zero = len(ins) > 2 and bool(ins[2])
    value = out if unit and not has_zero else imp.temp(n, "float")
    imp.emit("Cast", [ins[0]], [value], {"to": 1}, f"{name}/float")
    if has_zero:
        zero, centred = imp.temp(n, "zero_float"), out if unit else imp.temp(n, "centred")
        imp.emit("Cast", [ins[2]], [zero], {"to": 1}, f"{name}/zero_float")
        imp.emit("Sub", [value, zero], [centred], {}, f"{name}/centred")
        value = centred
    if not unit:
        imp.emit("Mul", [value, ins[1]], [out], {}, name)


def _along_axis(imp, n, param: str, x: str, axis: int, name: str) -> str:
    """A per-tensor parameter as it is; a per-axis one ([C], C = x's extent on `axis`) reshaped to broadcast."""
    shape, x_shape = imp.info(n, param).shape, imp.info(n, x).shape
    if shape in ((), (1,)):
        return param
    axis = axis % max(len(x_shape), 1)
    if len(shape) != 1 or not x_shape or shape[0] != x_shape[axis]:
        raise ConvertError(f"node {name!r} (DequantizeLinear): parameter {param!r} of shape {list(shape)} is "
                           f"neither per tensor nor per axis {axis} of an input of shape {list(x_shape)}")
    target = [1] * len(x_shape)
    target[axis] = shape[0]
    out = imp.temp(n, "along_axis")
    imp.emit("Reshape", [param], [out], {"shape": target, "allowzero": 0}, f"{name}/{param}/along_axis")
    return out


def _dequantized(imp, n, x: int, scale: int, zero: int, suffix: str, axis: int = 1) -> str:
    """Input x of node n as float: a DequantizeLinear (folded when x is a constant). scale < 0: the *Integer
    ops' (x − zero) at scale 1."""
    ins, zero_name = [n.input(x)], n.input(zero)
    if scale >= 0:
        ins.append(n.input(scale))
    else:
        one = imp.temp(n, suffix + "_one")
        imp.add_const(one, np.ones(imp.info(n, zero_name).shape if zero_name else (), np.float32))
        ins.append(one)
    if zero_name:
        ins.append(zero_name)
    out = imp.temp(n, suffix)
    _dequantize(imp, n, ins, out, {"axis": axis}, f"{n.name}/{suffix}")
    return out


def _requantized(imp, n, y: str, scale: int, zero: int) -> None:
    ins = [y, n.input(scale)] + ([n.input(zero)] if n.input(zero) else [])
    imp.emit("QuantizeLinear", ins, n.outputs[:1], {"axis": 1}, f"{n.name}/quantize")


def _conv_attrs(imp, n, x: str, w: str) -> dict:
    """The Conv's explicit geometry (ops/geometry checks it against the dequantized input and weights)."""
    group = n.get("group", 1)
    window = resolve_window(n, geometry.conv_window, imp.infos[x].shape, imp.infos[w].shape, group,
                            **spatial_attrs(n))
    return explicit_attrs(window) | {"group": int(group)}


def _qlinear_conv(imp, n) -> None:
    """QLinearConv(x, x_scale, x_zero, w, w_scale, w_zero, y_scale, y_zero, B): B is int32 at scale
    x_scale · w_scale (per output channel when w_scale is)."""
    x = _dequantized(imp, n, 0, 1, 2, "x")
    w = _dequantized(imp, n, 3, 4, 5, "w", axis=0)
    ins = [x, w]
    if n.input(8):
        x_scale = imp.const(n, 1, "x_scale").astype(np.float64)
        w_scale = imp.const(n, 4, "w_scale").astype(np.float64)
        bias = imp.const(n, 8, "B").astype(np.float64) * (x_scale * w_scale).reshape(-1)
        ins.append(imp.temp(n, "bias"))
        imp.add_const(ins[-1], bias.astype(np.float32))
    y = imp.temp(n, "conv")
    imp.emit("Conv", ins, [y], _conv_attrs(imp, n, x, w), n.name)
    _requantized(imp, n, y, 6, 7)


def _qlinear_matmul(imp, n) -> None:
    """QLinearMatMul(a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero); b's scale may be per column."""
    a = _dequantized(imp, n, 0, 1, 2, "a")
    b = _dequantized(imp, n, 3, 4, 5, "b", axis=-1)
    y = imp.temp(n, "matmul")
    imp.emit("MatMul", [a, b], [y], {}, n.name)
    _requantized(imp, n, y, 6, 7)


def _conv_integer(imp, n) -> None:
    x = _dequantized(imp, n, 0, -1, 2, "x")
    w = _dequantized(imp, n, 1, -1, 3, "w", axis=0)
    _integer_result(imp, n, "Conv", [x, w], _conv_attrs(imp, n, x, w))


def _integer_result(imp, n, op_type: str, ins: list[str], attrs: dict) -> None:
    """The float op computing an *Integer op's exact integers, then its int32 output."""
    exact = imp.temp(n, "exact")
    imp.emit(op_type, ins, [exact], attrs, n.name)
    imp.emit("Cast", [exact], n.outputs[:1], {"to": 6}, f"{n.name}/int32")


def _matmul_integer(imp, n) -> None:
    a = _dequantized(imp, n, 0, -1, 2, "a", axis=0 if len(imp.shape(n, 0)) == 1 else -2)
    b = _dequantized(imp, n, 1, -1, 3, "b", axis=-1)
    _integer_result(imp, n, "MatMul", [a, b], {})


def _lstm_weights(imp, n, q: int, scale: int, zero: int) -> np.ndarray:
    """DynamicQuantizeLSTM's W or R ([directions, in, 4·hidden], quantized per direction or per column) as the
    LSTM's float [directions, 4·hidden, in]."""
    w = imp.const(n, q, "quantized weights").astype(np.float64)
    s = imp.const(n, scale, "weight scale").astype(np.float64)
    z = imp.const(n, zero, "weight zero point")
    z = np.zeros_like(s) if z is None else z.astype(np.float64)
    if w.ndim != 3 or s.shape != z.shape or s.size not in (1, w.shape[0], w.shape[0] * w.shape[2]):
        raise ConvertError(f"node {n.name!r} (DynamicQuantizeLSTM): weights {list(w.shape)} with scales "
                           f"{list(s.shape)} and zero points {list(z.shape)}")
    shape = (w.shape[0], 1, w.shape[2]) if s.size == w.shape[0] * w.shape[2] else (-1, 1, 1)
    real = (w - z.reshape(shape if s.size > 1 else ())) * s.reshape(shape if s.size > 1 else ())
    return real.transpose(0, 2, 1).astype(np.float32)


def _dynamic_quantize_lstm(imp, n) -> None:
    """com.microsoft DynamicQuantizeLSTM(X, W, R, B, sequence_lens, initial_h, initial_c, P, W_scale,
    W_zero_point, R_scale, R_zero_point): an LSTM on the dequantized weights (onnxruntime quantizes X and H to
    uint8 at each step; ddddocr_common_old_dynq with it agrees with onnxruntime, benchmarks/NOTES.md)."""
    import copy

    from . import onnx_rnn

    lstm = copy.copy(n)
    lstm.op_type = "LSTM"
    weights = []
    for k, (q, scale, zero) in enumerate(((1, 8, 9), (2, 10, 11))):
        name = imp.temp(n, "W" if k == 0 else "R")
        imp.add_const(name, _lstm_weights(imp, n, q, scale, zero))
        weights.append(name)
    lstm.inputs = [n.input(0), *weights, *[n.input(k) for k in range(3, 8)]]
    lstm.attrs = dict(n.attrs)
    onnx_rnn.lower(imp, lstm)


IMPORTERS = {"QuantizeLinear": _quantize_linear, "DequantizeLinear": _dequantize_linear,
             "QLinearConv": _qlinear_conv, "QLinearMatMul": _qlinear_matmul, "ConvInteger": _conv_integer,
             "MatMulInteger": _matmul_integer,
             # the support check names custom-domain ops domain.Op, the walk dispatches on the op type alone
             "com.microsoft.DynamicQuantizeLSTM": _dynamic_quantize_lstm, "DynamicQuantizeLSTM": _dynamic_quantize_lstm}
