"""LayerNormalization, InstanceNormalization, GroupNormalization and LRN.

The first three normalise contiguous rows: LayerNormalization the dims from `axis` on, InstanceNormalization each
(n, c) plane, GroupNormalization each (n, group) block of C / num_groups channels. One kernel (normalization.cl)
computes each row's mean, then its variance around the mean (two passes: no cancellation), then
y = (x - mean) / sqrt(var + epsilon) · scale + bias, with the scale/bias element of position j in row r at
(r % groups) · stride + j / span — which covers the three ops' layouts. A long row with few rows gets a work-group
(tree reductions in local memory), otherwise a work-item per row. LayerNormalization may also write its Mean and
InvStdDev outputs. GroupNormalization's scale and bias are per channel (opset 21; the ONNX frontend expands
opset 18's per-group ones). LRN sums squares over a window of channels for every element."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import Case, Const, Scratch, TensorInfo, axis_index, need_dtype, uniform
from .reduce import WG_MAX_ROWS, WG_MIN_K

OP_TYPES = ("LayerNormalization", "InstanceNormalization", "GroupNormalization", "LRN")


def _param_shape(op: str, what: str, info: TensorInfo | None, want: tuple, broadcast_ok: bool) -> None:
    if info is None:
        return
    ok = tuple(info.shape) == tuple(want)
    if not ok and broadcast_ok:
        try:
            ok = np.broadcast_shapes(tuple(info.shape), tuple(want)) == tuple(want)
        except ValueError:
            ok = False
    if not ok:
        raise ConvertError(f"{op}: {what} has shape {list(info.shape)}, expected {list(want)}")


def infer(x: TensorInfo, *params: TensorInfo | None, _op_type="LRN", axis=-1, num_groups=None, size=None,
          **attrs):
    """`params`: scale and bias (LRN has none, and its attribute `bias` is a number)."""
    need_dtype(_op_type, x, "f")
    scale, bias = (list(params) + [None, None])[:2]
    rank = len(x.shape)
    if _op_type == "LayerNormalization":
        a = axis_index(axis, rank)
        _param_shape(_op_type, "Scale", scale, x.shape[a:], True)
        _param_shape(_op_type, "B", bias, x.shape[a:], True)
        stats = tuple(x.shape[:a]) + (1,) * (rank - a)
        return [(x.shape, x.dtype), (stats, "float32"), (stats, "float32")]
    if rank < 2:
        raise ConvertError(f"{_op_type} needs a tensor of rank >= 2 (N, C, ...), got rank {rank}")
    if _op_type == "LRN":
        if size is None or int(size) < 1:
            raise ConvertError(f"LRN: size must be a positive integer, not {size}")
        return [(x.shape, x.dtype)]
    channels = x.shape[1]
    if _op_type == "GroupNormalization" and (num_groups is None or int(num_groups) < 1 or
                                             channels % int(num_groups)):
        raise ConvertError(f"GroupNormalization: num_groups {num_groups} must divide the {channels} channels")
    for what, info in (("scale", scale), ("bias", bias)):
        if info is None:
            raise ConvertError(f"{_op_type} needs its {what} input")
        _param_shape(_op_type, what, info, (channels,), False)
    return [(x.shape, x.dtype)]


def _rows(x_shape, _op_type, axis=-1, num_groups=None) -> tuple[int, int]:
    """(rows, K) of the contiguous rows the op normalises."""
    if _op_type == "LayerNormalization":
        a = axis % len(x_shape)
        return int(np.prod(x_shape[:a])), int(np.prod(x_shape[a:]))
    groups = int(num_groups) if _op_type == "GroupNormalization" else x_shape[1]
    return x_shape[0] * groups, int(np.prod(x_shape[1:])) // groups


def _lrn(x, alpha=1e-4, beta=0.75, bias=1.0, size=1):
    sq = np.square(x.astype(np.float64))
    low, high = (int(size) - 1) // 2, -(-(int(size) - 1) // 2)
    padded = np.pad(sq, [(0, 0), (low, high)] + [(0, 0)] * (x.ndim - 2))
    window = sum(padded[:, k:k + x.shape[1]] for k in range(int(size)))
    return (x / (bias + alpha / int(size) * window) ** beta).astype(x.dtype)


def reference(x, *params, _op_type="LRN", axis=-1, epsilon=1e-5, num_groups=None, **attrs):
    if _op_type == "LRN":
        return [_lrn(x, **{k: attrs[k] for k in ("alpha", "beta", "bias", "size") if k in attrs})]
    scale, bias = (list(params) + [None, None])[:2]
    rows, k = _rows(x.shape, _op_type, axis, num_groups)
    flat = x.astype(np.float64).reshape(rows, k)
    mean = flat.mean(axis=1, keepdims=True)
    inv = 1 / np.sqrt(np.square(flat - mean).mean(axis=1, keepdims=True) + epsilon)
    y = ((flat - mean) * inv).reshape(x.shape)
    if _op_type == "LayerNormalization":
        y = y * scale + (0 if bias is None else bias)
        stats = x.shape[:axis % x.ndim] + (1,) * (x.ndim - axis % x.ndim)
        return [y.astype(x.dtype), mean.reshape(stats).astype(np.float32), inv.reshape(stats).astype(np.float32)]
    per_channel = (1, -1) + (1,) * (x.ndim - 2)
    return [(y * scale.reshape(per_channel) + bias.reshape(per_channel)).astype(x.dtype)]


def _param(ref, full_shape):
    """A LayerNormalization Scale/B that broadcasts to the normalised dims, as one value per row element."""
    if ref is None or tuple(ref.shape) == tuple(full_shape):
        return ref
    if ref.const is None:
        raise ConvertError("LayerNormalization: a Scale or B that broadcasts must be a constant")
    return Const(np.ascontiguousarray(np.broadcast_to(ref.const, full_shape), np.float32))


def _layout(shape, _op_type, num_groups) -> tuple[int, int, int]:
    """(groups, stride, span): row r's element j uses scale/bias element (r % groups) * stride + j / span."""
    if _op_type == "LayerNormalization":
        return 1, 0, 1
    spatial = int(np.prod(shape[2:]))
    if _op_type == "InstanceNormalization":
        return shape[1], 1, spatial  # j < spatial: one channel a row
    return int(num_groups), shape[1] // int(num_groups), spatial


def launch(ctx, _op_type="LRN", axis=-1, epsilon=1e-5, num_groups=None, **attrs):
    x, y = ctx.inputs[0], ctx.outputs[0]
    if _op_type == "LRN":
        _launch_lrn(ctx, x, y, **attrs)
        return
    rows, k = _rows(x.shape, _op_type, axis, num_groups)
    scale, bias = (ctx.inputs + [None, None])[1:3]
    if _op_type == "LayerNormalization":
        scale, bias = _param(scale, x.shape[axis % len(x.shape):]), _param(bias, x.shape[axis % len(x.shape):])
    stats = list(ctx.outputs[1:3])  # LayerNormalization's Mean and InvStdDev, when the node has them
    stats += [Scratch(rows)] * (2 - len(stats)) if stats else []
    groups, stride, span = _layout(x.shape, _op_type, num_groups)
    options = [f"-DEPSILON={float(epsilon)!r}f", f"-DHAS_BIAS={int(bias is not None)}", f"-DSTATS={int(bool(stats))}"]
    args = [x, scale] + ([bias] if bias is not None else []) + [y] + stats
    args += [np.int32(k), np.int32(rows), np.int32(groups), np.int32(stride), np.int32(span)]
    if k >= WG_MIN_K and rows < WG_MAX_ROWS:
        wg = 1 << (min(256, ctx.device.max_work_group_size, k).bit_length() - 1)
        ctx.kernel("normalization", "norm_wg", (wg, rows), args, options=tuple(options) + (f"-DWG={wg}",),
                   lws=(wg, 1))
    else:
        ctx.kernel("normalization", "norm_serial", (rows,), args, options=tuple(options))


def _launch_lrn(ctx, x, y, alpha=1e-4, beta=0.75, bias=1.0, size=1, **_):
    n, c, spatial = x.shape[0], x.shape[1], int(np.prod(x.shape[2:]))
    options = (f"-DLRN_ALPHA={float(alpha) / int(size)!r}f", f"-DLRN_BETA={float(beta)!r}f",
               f"-DLRN_BIAS={float(bias)!r}f", f"-DLRN_LOW={(int(size) - 1) // 2}",
               f"-DLRN_HIGH={-(-(int(size) - 1) // 2)}")
    ctx.kernel("normalization", "lrn", (spatial, c, n), [x, y, np.int32(c), np.int32(spatial), np.int32(n)],
               options=options)


CASES = [
    Case("layer_last_axis", [(2, 5, 33), (33,), (33,)], consts=(1, 2), op_type="LayerNormalization"),
    Case("layer_long_rows_stats", [(3, 320), (320,), (320,)], consts=(1, 2), op_type="LayerNormalization",
         attrs={"epsilon": 1e-6}),
    Case("layer_axis1_no_bias", [(2, 3, 4, 5), (3, 4, 5)], consts=(1,), op_type="LayerNormalization",
         attrs={"axis": 1}),
    Case("layer_negative_axis_broadcast_scale", [(4, 3, 7), (1, 7), (7,)], consts=(1, 2),
         op_type="LayerNormalization", attrs={"axis": -2, "epsilon": 1e-3}),
    Case("layer_offset_input", [uniform(40, 44, (6, 97)), (97,), (97,)], consts=(1, 2),
         op_type="LayerNormalization"),
    Case("instance_nchw", [(2, 3, 7, 9), (3,), (3,)], consts=(1, 2), op_type="InstanceNormalization"),
    Case("instance_large_plane", [(1, 4, 20, 20), (4,), (4,)], consts=(1, 2), op_type="InstanceNormalization",
         attrs={"epsilon": 1e-3}),
    Case("instance_1d", [(3, 5, 11), (5,), (5,)], op_type="InstanceNormalization"),
    Case("group_two_groups", [(2, 6, 5, 5), (6,), (6,)], consts=(1, 2), op_type="GroupNormalization",
         attrs={"num_groups": 2}),
    Case("group_one_group_long", [(1, 8, 9, 9), (8,), (8,)], consts=(1, 2), op_type="GroupNormalization",
         attrs={"num_groups": 1, "epsilon": 1e-2}),
    Case("group_per_channel", [(3, 4, 7), (4,), (4,)], op_type="GroupNormalization", attrs={"num_groups": 4}),
    Case("lrn_size5", [(1, 10, 7, 7)], op_type="LRN", attrs={"size": 5, "alpha": 1e-2, "beta": 0.75,
                                                             "bias": 2.0}),
    Case("lrn_defaults", [(2, 7, 4, 5)], op_type="LRN", attrs={"size": 3}),  # onnxruntime takes odd sizes only
    Case("lrn_large_alpha", [uniform(-3, 3, (1, 16, 3, 3))], op_type="LRN",
         attrs={"size": 3, "alpha": 0.9, "beta": 0.5, "bias": 1.0}),
]
