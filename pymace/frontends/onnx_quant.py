"""ONNX quantized graphs → pymace IR, computed in float (frontends/onnx.py registers IMPORTERS).

QDQ graphs need nothing special: QuantizeLinear / DequantizeLinear are IR ops, a DequantizeLinear of a constant
int8 weight folds into a float32 weight at import (every node of constant inputs does), and the Q → DQ pairs on
activations stay, so values are rounded to the same grid as onnxruntime's int8 kernels. The operator-form ops
become that same QDQ form: QLinearConv = DQ(x) → Conv(DQ(w), bias · x_scale · w_scale) → Q(y), QLinearMatMul
likewise. ConvInteger / MatMulInteger compute (x − x_zero)·(w − w_zero) exactly in float32 (integers below 2²⁴);
their results are float32 tensors holding those integers, so the Cast to float that follows them is an Identity."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError


def _attrs(n, keys=("axis", "block_size", "output_dtype")) -> dict:
    return {"axis": int(n.get("axis", 1)), **{k: int(n.get(k)) for k in keys[1:] if n.get(k) is not None}}


def _quantize_linear(imp, n) -> None:
    if int(n.get("saturate", 1)) != 1:
        raise ConvertError(f"node {n.name!r} (QuantizeLinear): saturate=0 applies to float8 only")
    imp.emit("QuantizeLinear", n.inputs[:3], n.outputs, _attrs(n), n.name)


def _dequantize_linear(imp, n) -> None:
    imp.emit("DequantizeLinear", n.inputs[:3], n.outputs, _attrs(n), n.name)


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
    imp.emit("DequantizeLinear", ins, [out], {"axis": axis}, f"{n.name}/{suffix}")
    return out


def _requantized(imp, n, y: str, scale: int, zero: int) -> None:
    ins = [y, n.input(scale)] + ([n.input(zero)] if n.input(zero) else [])
    imp.emit("QuantizeLinear", ins, n.outputs[:1], {"axis": 1}, f"{n.name}/quantize")


def _conv_attrs(imp, n, x: str, w: str) -> dict:
    """The Conv's explicit geometry (ops/geometry checks it against the dequantized input and weights)."""
    from ..ops import geometry
    from .onnx import _explicit, _spatial, _window

    group = n.get("group", 1)
    window = _window(n, geometry.conv_window, imp.infos[x].shape, imp.infos[w].shape, group, **_spatial(n))
    return _explicit(window) | {"group": int(group)}


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
    imp.emit("Conv", [x, w], n.outputs[:1], _conv_attrs(imp, n, x, w), n.name)


def _matmul_integer(imp, n) -> None:
    a = _dequantized(imp, n, 0, -1, 2, "a", axis=0 if len(imp.shape(n, 0)) == 1 else -2)
    b = _dequantized(imp, n, 1, -1, 3, "b", axis=-1)
    imp.emit("MatMul", [a, b], n.outputs[:1], {}, n.name)


IMPORTERS = {"QuantizeLinear": _quantize_linear, "DequantizeLinear": _dequantize_linear,
             "QLinearConv": _qlinear_conv, "QLinearMatMul": _qlinear_matmul, "ConvInteger": _conv_integer,
             "MatMulInteger": _matmul_integer}
