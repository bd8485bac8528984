"""QuantizeLinear and DequantizeLinear (ONNX semantics): q = saturate(round_half_even(x / scale) + zero_point),
x = (q - zero_point) * scale, per tensor or per slice of `axis` (1-D scale), or per block of `block_size` along
`axis` (scale of the input's rank). The output type of QuantizeLinear is the zero point's (uint8 without one).

On a device every tensor lives in the storage type, so a quantized tensor holds its integers as float values
(exact in fp16 for 8-bit types): QuantizeLinear writes them, DequantizeLinear reads them. Scales travel as fp32
bits, not in the storage type, so fp16 storage does not move the quantization grid. Blocked scales appear on
constant weights only, which conversion folds; the kernels take per-tensor and per-axis parameters."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import Case, Const, TensorInfo, elem_options

OP_TYPES = ("QuantizeLinear", "DequantizeLinear")
TYPES = ("int8", "uint8", "int16", "uint16", "int32")  # what pymace quantizes to and dequantizes from
_ONNX_TYPES = {2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32"}


def _out_type(zero_info, output_dtype=0) -> str:
    if zero_info is not None:
        return str(zero_info.dtype)
    if output_dtype:
        if int(output_dtype) not in _ONNX_TYPES:
            raise ConvertError(f"QuantizeLinear output_dtype {output_dtype} is not supported ({', '.join(TYPES)})")
        return _ONNX_TYPES[int(output_dtype)]
    return "uint8"


def infer(x: TensorInfo, scale: TensorInfo, zero=None, _op_type="QuantizeLinear", axis=1, block_size=0,
          output_dtype=0, **_):
    rank = len(x.shape)
    if scale.shape not in ((), (1,)):
        if not -rank <= axis < rank:
            raise ConvertError(f"{_op_type}: axis {axis} for a {rank}-d input")
        want = (x.shape[axis % rank],) if not block_size else None
        if want is not None and tuple(scale.shape) != want:
            raise ConvertError(f"{_op_type}: scale of shape {list(scale.shape)} for axis {axis} of "
                               f"{list(x.shape)}")
    if zero is not None and tuple(zero.shape) != tuple(scale.shape):
        raise ConvertError(f"{_op_type}: zero point of shape {list(zero.shape)}, scale {list(scale.shape)}")
    if _op_type == "DequantizeLinear":
        return [(x.shape, scale.dtype if scale.dtype == "float16" else "float32")]
    out = _out_type(zero, output_dtype)
    if out not in TYPES:
        raise ConvertError(f"QuantizeLinear to {out} is not supported ({', '.join(TYPES)})")
    return [(x.shape, out)]


def _expand(v: np.ndarray, shape, axis: int, block_size: int) -> np.ndarray:
    """Scale or zero point broadcastable against an input of `shape`."""
    if v.ndim == 0 or v.size == 1 and v.ndim <= 1:
        return v.reshape(())
    axis %= len(shape)
    if block_size:
        v = np.repeat(v, block_size, axis=axis)
        return np.take(v, np.arange(shape[axis]), axis=axis)
    return v.reshape([-1 if d == axis else 1 for d in range(len(shape))])


def reference(x, scale, zero=None, _op_type="QuantizeLinear", axis=1, block_size=0, output_dtype=0, **_):
    s = _expand(np.asarray(scale), x.shape, axis, int(block_size))
    z = _expand(np.asarray(zero), x.shape, axis, int(block_size)).astype(np.int64) if zero is not None else 0
    if _op_type == "DequantizeLinear":
        y = (x.astype(np.int64) - z).astype(np.float32) * s.astype(np.float32)
        return [y.astype(np.float16 if np.asarray(scale).dtype == np.float16 else np.float32)]
    out = np.dtype(_out_type(np.asarray(zero) if zero is not None else None, output_dtype))
    info = np.iinfo(out)
    q = np.rint(x.astype(np.float32) / s.astype(np.float32)).astype(np.float64) + z
    return [np.clip(q, info.min, info.max).astype(out)]


def launch(ctx, _op_type="QuantizeLinear", axis=1, block_size=0, output_dtype=0, **_):
    x, scale, zero = ctx.inputs[0], ctx.inputs[1], ctx.inputs[2] if len(ctx.inputs) > 2 else None
    if scale.const is None or (zero is not None and zero.const is None) or block_size:
        raise ConvertError(f"node {ctx.node.name!r} ({_op_type}): pymace runs constant per-tensor or per-axis "
                           "scales and zero points on a device")
    s = np.asarray(scale.const, np.float32).reshape(-1)
    z = np.asarray(zero.const).astype(np.int64).reshape(-1) if zero is not None else np.zeros_like(s, np.int64)
    shape = x.shape
    channels = len(s)
    inner = int(np.prod(shape[axis % len(shape) + 1:], dtype=np.int64)) if channels > 1 else 1
    quantized = ctx.outputs[0] if _op_type == "QuantizeLinear" else x
    options = elem_options(quantized.dtype)  # an integer tensor is int32 on the device
    if _op_type == "QuantizeLinear":
        info = np.iinfo(np.dtype(_out_type(zero.const if zero is not None else None, output_dtype)))
        options += (f"-DQMIN={info.min}.0f", f"-DQMAX={info.max}.0f")
    table = Const(np.concatenate([s.view(np.int32), z.astype(np.int32)]))
    as_ints = quantized is x and bool(elem_options(x.dtype))
    src = x if x.const is None else Const(x.const.astype(np.int32 if as_ints else np.float32))
    n = int(np.prod(shape, dtype=np.int64))
    if n == 0:
        return
    name = "quantize_linear" if _op_type == "QuantizeLinear" else "dequantize_linear"
    ctx.kernel("quantize", name, (n,), [src, ctx.outputs[0], table, *map(np.int32, (channels, inner, n))],
               options=options)


def _q(shape, values, dtype):
    return np.array(values, dtype).reshape(shape)


_SCALE3 = np.array([0.0173, 0.031, 0.0059], np.float32)
CASES = [
    Case("q_int8_tensor", [(1, 3, 9, 11), np.array(0.0173, np.float32), np.array(-5, np.int8)], consts=(1, 2)),
    Case("q_uint8_default_zero", [(2, 5, 7), np.array(0.0121, np.float32)], consts=(1,)),
    Case("q_uint8_axis1", [(1, 3, 6, 5), _SCALE3, _q(3, [128, 120, 131], np.uint8)], consts=(1, 2)),
    Case("q_int8_axis_last", [(4, 3), _SCALE3, _q(3, [0, 3, -7], np.int8)], {"axis": -1}, consts=(1, 2)),
    Case("dq_int8_tensor", [np.random.default_rng(1).integers(-128, 128, (1, 4, 7, 9)).astype(np.int8),
                            np.array(0.021, np.float32), np.array(3, np.int8)], consts=(1, 2),
         op_type="DequantizeLinear"),
    Case("dq_uint8_axis0", [np.random.default_rng(2).integers(0, 256, (3, 5, 2)).astype(np.uint8), _SCALE3,
                            _q(3, [128, 0, 255], np.uint8)], {"axis": 0}, consts=(1, 2), op_type="DequantizeLinear"),
    Case("dq_int8_no_zero", [np.random.default_rng(3).integers(-128, 128, (2, 3, 5)).astype(np.int8),
                             np.array(0.5, np.float32)], consts=(1,), op_type="DequantizeLinear"),
]
