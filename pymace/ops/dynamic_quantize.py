"""DynamicQuantizeLinear (ONNX): x (float) → y (uint8), y_scale, y_zero_point, its per-tensor parameters computed
from x at run time:
    lo = min(0, min(x)), hi = max(0, max(x)), y_scale = (hi − lo if hi ≠ lo else 1) / 255,
    y_zero_point = round(clamp(−lo / y_scale, 0, 255)), y = clamp(round(x / y_scale) + y_zero_point, 0, 255),
rounding half to even (onnx.reference's and onnxruntime's formula). A NaN in x makes y_scale NaN (so whatever
dequantizes y is NaN) with y_zero_point 0 and y 0 where x is NaN.

On the device (kernels/dynamic_quantize.cl): partial min/max per work-group, then the parameters, then y; y and
the zero point are integer tensors (int32 buffers), y_scale is a float tensor."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from . import kernel_args
from .base import Case, Scratch, TensorInfo

OP_TYPES = ("DynamicQuantizeLinear",)
GROUPS = 64  # partial results of the first launch, at most


def infer(x: TensorInfo, *_, **__):
    if np.dtype(x.dtype).kind != "f":
        raise ConvertError(f"DynamicQuantizeLinear of a {x.dtype} tensor (it takes float)")
    return [(x.shape, "uint8"), ((), "float32"), ((), "uint8")]


def reference(x, *_, **__):
    x = np.asarray(x, np.float32)
    if np.isnan(x).any():
        return [np.zeros(x.shape, np.uint8), np.array(np.nan, np.float32), np.array(0, np.uint8)]
    hi = np.float32(max(0.0, float(x.max()))) if x.size else np.float32(0)
    lo = np.float32(min(0.0, float(x.min()))) if x.size else np.float32(0)
    scale = np.float32(np.float32(1.0) if hi == lo else hi - lo) / np.float32(255)
    zero = np.rint(np.clip(np.float32(0) - lo / scale, 0, 255))
    y = np.clip(np.rint(x / scale) + zero, 0, 255)
    return [y.astype(np.uint8), np.array(scale, np.float32), np.array(zero, np.uint8)]


def launch(ctx, **_) -> None:
    x, (y, scale, zero) = ctx.inputs[0], ctx.outputs
    n = int(np.prod(x.shape, dtype=np.int64))
    wg = 1 << (min(256, ctx.device.max_work_group_size).bit_length() - 1)
    groups = max(1, min(GROUPS, -(-n // wg)))
    stats = Scratch(2 * (3 * groups + 2))  # floats, in storage elements of 2 bytes or more
    options = (f"-DWG={wg}",)
    kernel_args.launch(ctx, "dynamic_quantize", "dq_minmax", (wg * groups,), {"x": x, "stats": stats, "n": n},
                       options, lws=(wg,))
    kernel_args.launch(ctx, "dynamic_quantize", "dq_params", (1,),
                       {"stats": stats, "scale": scale, "zero": zero, "groups": groups}, options)
    if n:
        kernel_args.launch(ctx, "dynamic_quantize", "dq_quantize", (n,),
                           {"x": x, "stats": stats, "y": y, "groups": groups, "n": n}, options)


def _ranged(shape, low: float, high: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


CASES = [
    Case("signed", [(2, 3, 9, 11)]),
    Case("large", [(1, 8, 61, 67)]),
    Case("all_positive", [_ranged((3, 130), 0.2, 4.0, 1)]),  # zero point 0: min adjusted to 0
    Case("all_negative", [_ranged((5, 7, 3), -3.0, -0.5, 2)]),  # zero point 255: max adjusted to 0
    Case("scalar_like", [_ranged((1,), 0.3, 0.4, 3)]),
]
