"""MaxPool, AveragePool (1-D/2-D on devices, any rank in the reference) and the global pools.

Output sizes follow ONNX (ops/geometry.py): explicit `pads` ([begin..., end...]) or `auto_pad`; with `ceil_mode`
a last window that would start beyond the input and its left padding is dropped. AveragePool divides by the
in-bounds taps, or with `count_include_pad` by the taps inside the padded input (not the ceil_mode overhang), as
onnxruntime does.
The global pools are reductions over the spatial axes and run reduce.py's kernels."""
from __future__ import annotations

import functools
import itertools

import numpy as np

from ..errors import ConvertError
from . import kernel_args
from .base import Case, TensorInfo
from .geometry import Window, pool_window
from .reduce import launch_reduce

OP_TYPES = ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool")
CPU_POOL_WORK = 256  # pool2d_cpu: output values a work-item at least (whole rows; work-groups cost PoCL time)


def infer(x: TensorInfo, _op_type=None, kernel_shape=None, **attrs):
    if len(x.shape) < 3:
        raise ConvertError(f"input of shape {list(x.shape)} has no spatial axes (N, C, then at least one)")
    if _op_type.startswith("Global"):
        return [(x.shape[:2] + (1,) * (len(x.shape) - 2), x.dtype)]
    out = _window(x.shape, kernel_shape, attrs).out
    return [(tuple(x.shape[:2]) + out, x.dtype)]  # MaxPool's optional Indices: reference only


def _window(x_shape, kernel_shape, attrs) -> Window:
    keys = ("strides", "pads", "dilations", "ceil_mode", "auto_pad")
    return pool_window(x_shape, kernel_shape, **{k: attrs[k] for k in keys if attrs.get(k) is not None})


def reference(x, _op_type=None, kernel_shape=None, count_include_pad=0, storage_order=0, **attrs):
    if _op_type.startswith("Global"):
        fn = np.max if _op_type == "GlobalMaxPool" else np.mean
        return [fn(x, axis=tuple(range(2, x.ndim)), keepdims=True).astype(x.dtype)]
    spatial = x.shape[2:]
    win = _window(x.shape, kernel_shape, attrs)
    st, dl, pb, pe, out = win.strides, win.dilations, win.begin, win.end, win.out
    full = x.shape[:2] + tuple(out)
    acc = np.full(full, -np.inf if _op_type == "MaxPool" else 0, np.float64)
    count, arg = np.zeros(full), np.zeros(full, np.int64)
    for tap in itertools.product(*[range(k) for k in win.kernel]):
        pos = [np.arange(o) * s - b + t * d for o, s, b, t, d in zip(out, st, pb, tap, dl, strict=True)]
        inside = [(p >= 0) & (p < n) for p, n in zip(pos, spatial, strict=True)]
        padded = [(p >= -b) & (p < n + e) for p, n, b, e in zip(pos, spatial, pb, pe, strict=True)]
        clipped = np.ix_(*[np.clip(p, 0, n - 1) for p, n in zip(pos, spatial, strict=True)])
        valid = _all(inside)
        v = x[(...,) + clipped]
        if _op_type == "MaxPool":
            take = valid & ((v > acc) | np.isnan(v))  # NaN propagates, as np.max (acc stays NaN once it is)
            acc = np.where(take, v, acc)
            order = clipped[::-1] if storage_order else clipped
            flat = np.ravel_multi_index(order, spatial[::-1] if storage_order else spatial)
            arg = np.where(take, flat, arg)
        else:
            acc += np.where(valid, v, 0)
            count += _all(padded) if count_include_pad else valid
    if _op_type == "MaxPool":
        planes = np.arange(x.shape[0] * x.shape[1]).reshape(x.shape[:2] + (1,) * len(out))
        return [acc.astype(x.dtype), arg + planes * int(np.prod(spatial))]
    return [(acc / np.maximum(count, 1)).astype(x.dtype)]


def _all(masks):
    """Outer AND of per-axis masks (np.ix_ would turn boolean masks into indices)."""
    r = len(masks)
    return functools.reduce(np.logical_and, [m.reshape((-1,) + (1,) * (r - 1 - i)) for i, m in enumerate(masks)])


def launch(ctx, _op_type=None, kernel_shape=None, count_include_pad=0, **attrs):
    x, y = ctx.inputs[0], ctx.outputs[0]
    if _op_type.startswith("Global"):
        op = "max" if _op_type == "GlobalMaxPool" else "mean"
        launch_reduce(ctx, x, y, tuple(range(2, len(x.shape))), op)
        return
    if len(x.shape) not in (3, 4):
        raise ConvertError(f"{_op_type} on a {len(x.shape)}-D tensor: devices pool 1-D and 2-D only")
    win = _window(x.shape, kernel_shape, attrs)
    k, st, dl, pb, pe, out = win.kernel, win.strides, win.dilations, win.begin, win.end, win.out
    if len(out) == 1:  # 1-D pools as a 2-D pool of height 1
        k, st, dl, pb, pe, out = (1, *k), (1, *st), (1, *dl), (0, *pb), (0, *pe), (1, *out)
    h, w = x.shape[2:] if len(x.shape) == 4 else (1, x.shape[2])
    names = ("KH", "KW", "SH", "SW", "DH", "DW", "PT", "PL", "PB", "PR")
    options = tuple(f"-D{n}={v}" for n, v in zip(names, (*k, *st, *dl, *pb, *pe), strict=True)) + (
        f"-DMODE_MAX={int(_op_type == 'MaxPool')}", f"-DCOUNT_PAD={int(bool(count_include_pad))}")
    planes = x.shape[0] * x.shape[1]
    values = dict(x=x, y=y, h=h, w=w, oh=out[0], ow=out[1], planes=planes)
    if not ctx.device.is_gpu:  # explicit vectors, rows a work-item (kernels/pool_cpu.cl)
        rows = max(1, min(out[0], CPU_POOL_WORK // max(1, out[1])))
        kernel_args.launch(ctx, "pool_cpu", "pool2d_cpu", (-(-out[0] // rows), planes, 1), values,
                           (*options, f"-DROWS={rows}"), lws=(1, 1, 1))
        return
    kernel_args.launch(ctx, "pool", "pool2d", (out[1], out[0], planes), values, options)


CASES = [
    Case("max_k2s2", [(1, 5, 8, 8)], attrs={"kernel_shape": [2, 2], "strides": [2, 2]}, op_type="MaxPool"),
    Case("max_k3s2_pad_odd", [(2, 3, 9, 11)], op_type="MaxPool",
         attrs={"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    Case("max_ceil_asym", [(1, 6, 10, 7)], op_type="MaxPool",
         attrs={"kernel_shape": [3, 2], "strides": [2, 2], "pads": [0, 1, 1, 0], "ceil_mode": 1}),
    Case("max_dilated", [(1, 3, 11, 10)], op_type="MaxPool",
         attrs={"kernel_shape": [2, 3], "dilations": [2, 2], "pads": [1, 0, 0, 2]}),
    Case("max_1d", [(2, 5, 17)], op_type="MaxPool", attrs={"kernel_shape": [3], "strides": [2]}),
    Case("avg_k3s1_pad_exclude", [(1, 7, 6, 9)], op_type="AveragePool",
         attrs={"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    Case("avg_k3s1_pad_include", [(1, 7, 6, 9)], op_type="AveragePool",
         attrs={"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    Case("avg_ceil_asym_include", [(2, 3, 11, 8)], op_type="AveragePool",
         attrs={"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 0, 1], "ceil_mode": 1,
                "count_include_pad": 1}),
    Case("avg_ceil_exclude", [(1, 5, 7, 7)], op_type="AveragePool",
         attrs={"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
    Case("avg_ceil_drops_last_window", [(1, 2, 5, 5)], op_type="AveragePool",
         attrs={"kernel_shape": [2, 2], "strides": [3, 3], "pads": [0, 0, 1, 1], "ceil_mode": 1,
                "count_include_pad": 1}),
    Case("avg_default_strides", [(1, 4, 5, 6)], op_type="AveragePool", attrs={"kernel_shape": [2, 3]}),
    # rows wide enough for pool2d_cpu's 8-column vectors (CPUs), strides 1, 2 and 3
    Case("max_k3s2_ceil_wide", [(1, 3, 13, 43)], op_type="MaxPool",
         attrs={"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    Case("avg_k3s1_wide_include", [(1, 2, 9, 37)], op_type="AveragePool",
         attrs={"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    Case("avg_k5s2_wide_exclude", [(2, 3, 12, 41)], op_type="AveragePool",
         attrs={"kernel_shape": [5, 5], "strides": [2, 2], "pads": [2, 2, 2, 2]}),
    Case("max_k2s3_dilated_wide", [(1, 2, 8, 60)], op_type="MaxPool",
         attrs={"kernel_shape": [2, 2], "strides": [3, 3], "dilations": [2, 2]}),
    # max pools whose blocks of 8 touch the padding (pool2d_cpu's masked vector path): ResNet's stem, YOLO's SPPF
    Case("max_k3s2_pad_wide", [(1, 3, 17, 19)], op_type="MaxPool",
         attrs={"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    Case("max_k5s1_pad_sppf", [(1, 4, 10, 10)], op_type="MaxPool",
         attrs={"kernel_shape": [5, 5], "pads": [2, 2, 2, 2]}),
    Case("gap_small", [(2, 6, 7, 7)], op_type="GlobalAveragePool"),
    Case("gap_large", [(1, 3, 31, 29)], op_type="GlobalAveragePool"),
    Case("gmp_small", [(1, 10, 3, 5)], op_type="GlobalMaxPool"),
    Case("gmp_large", [(2, 2, 20, 20)], op_type="GlobalMaxPool"),
]
