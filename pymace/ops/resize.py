"""Resize: `mode` nearest or linear, ONNX's coordinate transformations and nearest rounding, `scales`
or `sizes` (optionally of `axes` only, with `keep_aspect_ratio_policy`). The host computes, per resized axis,
which input rows each output row reads and with what weight; the reference applies those tables axis by axis,
the kernel (last two axes) reads them from one table: device and reference agree on every index."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import Case, Const, TensorInfo, check_axis, check_ints, ints

OP_TYPES = ("Resize",)
ROUND = {"round_prefer_floor": lambda x: np.ceil(x - 0.5), "round_prefer_ceil": lambda x: np.floor(x + 0.5),
         "floor": np.floor, "ceil": np.ceil}


def _text(v):
    return v.decode() if isinstance(v, bytes) else v


def geometry(shape, scales=None, sizes=None, axes=None, keep_aspect_ratio_policy="stretch"):
    """Output shape and the scale factor of every axis."""
    axes = [a % len(shape) for a in ints(axes)] if axes is not None else list(range(len(shape)))
    out, scale = list(shape), [1.0] * len(shape)
    if sizes is not None and len(sizes):
        want = dict(zip(axes, ints(sizes), strict=True))
        factor = {a: want[a] / shape[a] for a in axes}
        policy = _text(keep_aspect_ratio_policy)
        if policy != "stretch":  # one common scale keeps the aspect ratio
            common = (min if policy == "not_larger" else max)(factor.values())
            factor = {a: common for a in axes}
            want = {a: int(np.floor(shape[a] * common + 0.5)) for a in axes}
        for a in axes:
            out[a], scale[a] = want[a], factor[a]
    else:
        for a, s in zip(axes, [float(s) for s in scales], strict=True):
            out[a], scale[a] = int(np.floor(shape[a] * s)), s
    return tuple(out), scale


def source_coords(n_in, n_out, scale, mode) -> np.ndarray:
    """Each output index's coordinate in the input (ONNX's coordinate_transformation_mode), float64."""
    x = np.arange(n_out, dtype=np.float64)
    if mode == "asymmetric":
        return x / scale
    if mode == "align_corners":
        return x * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros_like(x)
    if mode == "pytorch_half_pixel" and n_out <= 1:
        return np.zeros_like(x)
    if mode in ("half_pixel", "pytorch_half_pixel"):
        return (x + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        adjustment = n_out / (scale * n_in)
        return n_in / 2 * (1 - adjustment) + (x + 0.5) / scale - 0.5
    raise ConvertError(f"Resize coordinate_transformation_mode {mode!r} is not supported")


def axis_table(n_in, n_out, scale, mode, coordinate_transformation_mode, nearest_mode):
    """(low index, high index, weight of high) of every output index along one axis."""
    x = source_coords(n_in, n_out, scale, coordinate_transformation_mode)
    # Rounding ties (x.5 for nearest, integers for floor/ceil) must be decided as in exact arithmetic, not by
    # float noise (a float32 scale, 1 - n_out / (scale * n_in)): snap within that noise to the half-integer.
    halves = np.round(x * 2) / 2
    x = np.where(np.abs(x - halves) <= 1e-6 * np.maximum(1, np.abs(x)), halves, x)
    if mode == "nearest":
        lo = np.clip(ROUND[nearest_mode](x), 0, n_in - 1).astype(np.int64)
        return lo, lo, np.zeros(n_out)
    x = np.clip(x, 0, n_in - 1)  # outside the input, linear sampling repeats the edge
    lo = np.floor(x).astype(np.int64)
    return lo, np.minimum(lo + 1, n_in - 1), x - lo


TRANSFORMS = ("asymmetric", "align_corners", "pytorch_half_pixel", "half_pixel", "half_pixel_symmetric")
POLICIES = ("stretch", "not_larger", "not_smaller")


def _settings(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_floor",
              antialias=0, **_):
    mode, ctm, nm = _text(mode), _text(coordinate_transformation_mode), _text(nearest_mode)
    if mode not in ("nearest", "linear") or antialias:
        raise ConvertError(f"Resize mode {str(mode)[:20]!r}{' with antialias' if antialias else ''} is not supported")
    if ctm not in TRANSFORMS or nm not in ROUND:
        raise ConvertError(f"Resize coordinate_transformation_mode {str(ctm)[:30]!r} / nearest_mode {str(nm)[:20]!r}"
                           " is not supported")
    return mode, ctm, nm


def _check(shape, scales, sizes, axes, policy) -> None:
    """Scales finite and > 0, sizes >= 0, one value per resized axis, a known policy, no empty axis resized."""
    rank = len(shape)
    if axes is not None:
        axes = [check_axis(a, rank, "Resize", "axes") for a in check_ints(axes, "Resize", "axes")]
        if len(set(axes)) != len(axes):
            raise ConvertError(f"Resize axes {axes} repeat")
    count = len(axes) if axes is not None else rank
    if sizes is not None and len(sizes):
        values = check_ints(sizes, "Resize", "sizes")
        if len(values) != count or any(v < 0 for v in values):
            raise ConvertError(f"Resize sizes {values[:8]}: {count} values >= 0 expected")
    elif scales is not None:
        values = [float(s) for s in scales]
        if len(values) != count or not all(np.isfinite(v) and v > 0 for v in values):
            raise ConvertError(f"Resize scales {values[:8]}: {count} finite values > 0 expected")
    else:
        raise ConvertError("Resize needs scales or sizes")
    if _text(policy) not in POLICIES:
        raise ConvertError(f"Resize keep_aspect_ratio_policy {str(policy)[:20]!r} is not one of {POLICIES}")
    if 0 in [shape[a] for a in (axes if axes is not None else range(rank))]:
        raise ConvertError(f"Resize of {list(shape)}: an empty axis has nothing to sample")


def infer(x: TensorInfo, *_, scales=None, sizes=None, axes=None, keep_aspect_ratio_policy="stretch", **attrs):
    _settings(**attrs)
    _check(x.shape, scales, sizes, axes, keep_aspect_ratio_policy)
    return [(geometry(x.shape, scales, sizes, axes, keep_aspect_ratio_policy)[0], x.dtype)]


def reference(x, *_, scales=None, sizes=None, axes=None, keep_aspect_ratio_policy="stretch", **attrs):
    settings = _settings(**attrs)
    out_shape, scale = geometry(x.shape, scales, sizes, axes, keep_aspect_ratio_policy)
    y = x
    for a, (n_in, n_out) in enumerate(zip(x.shape, out_shape, strict=True)):
        if n_in == n_out and scale[a] == 1:
            continue
        lo, hi, w = axis_table(n_in, n_out, scale[a], *settings)
        w = w.reshape((-1,) + (1,) * (x.ndim - a - 1))
        y = np.take(y, lo, axis=a) * (1 - w) + np.take(y, hi, axis=a) * w if settings[0] == "linear" \
            else np.take(y, lo, axis=a)
    return [y.astype(x.dtype)]


def launch(ctx, scales=None, sizes=None, axes=None, keep_aspect_ratio_policy="stretch", **attrs) -> None:
    settings = _settings(**attrs)
    in_shape, out_shape = (1, 1) + tuple(ctx.inputs[0].shape), (1, 1) + tuple(ctx.outputs[0].shape)
    _, scale = geometry(ctx.inputs[0].shape, scales, sizes, axes, keep_aspect_ratio_policy)
    scale = [1.0, 1.0] + scale
    if in_shape[:-2] != out_shape[:-2]:
        raise ConvertError(f"Resize on the device scales the last two axes only, not {in_shape[2:]} -> "
                           f"{out_shape[2:]}")
    tables = []
    for a in (-2, -1):  # rows (H) then columns (W); float weights travel as their fp32 bits
        lo, hi, w = axis_table(in_shape[a], out_shape[a], scale[a], *settings)
        tables += [lo.astype(np.int32), hi.astype(np.int32), w.astype(np.float32).view(np.int32)]
    outer = int(np.prod(out_shape[:-2], dtype=np.int64))
    if outer * out_shape[-1] * out_shape[-2] == 0:
        return
    dims = [np.int32(v) for v in (in_shape[-2], in_shape[-1], out_shape[-2], out_shape[-1], outer)]
    args = [ctx.inputs[0], ctx.outputs[0], Const(np.concatenate(tables)), *dims]
    options = (f"-DLINEAR={int(settings[0] == 'linear')}",)
    if ctx.device.is_gpu:
        ctx.kernel("resize", "resize_2d", (out_shape[-1], out_shape[-2], outer), args, options=options)
    else:  # a work-item a row: PoCL's work-items cost more than a row's loop
        ctx.kernel("resize", "resize_2d_rows", (out_shape[-2], outer), args, options=options, lws=(1, 1))


def _case(name, shape, **attrs):
    return Case(name, [shape], attrs)


CASES = [
    _case("nearest_x2_asym", (1, 3, 5, 7), scales=[1, 1, 2, 2], coordinate_transformation_mode="asymmetric",
          nearest_mode="floor"),
    _case("nearest_sizes_half_pixel", (1, 5, 6, 9), sizes=[1, 5, 13, 4]),
    _case("nearest_align_ceil", (2, 3, 4, 5), sizes=[2, 3, 7, 11], nearest_mode="round_prefer_ceil",
          coordinate_transformation_mode="align_corners"),
    _case("nearest_symmetric_ceil", (1, 2, 7, 6), scales=[1, 1, 1.5, 0.5], nearest_mode="ceil",
          coordinate_transformation_mode="half_pixel_symmetric"),
    _case("linear_x2_half_pixel", (1, 3, 5, 7), scales=[1, 1, 2, 2], mode="linear"),
    _case("linear_down_pytorch", (2, 3, 9, 11), sizes=[2, 3, 4, 1], mode="linear",
          coordinate_transformation_mode="pytorch_half_pixel"),
    _case("linear_align_corners", (1, 6, 4, 5), sizes=[1, 6, 9, 13], mode="linear",
          coordinate_transformation_mode="align_corners"),
    _case("linear_asym_axes", (1, 5, 6, 7), scales=[1.7, 0.6], axes=[2, 3], mode="linear",
          coordinate_transformation_mode="asymmetric"),
    _case("linear_rank3_w_only", (3, 5, 8), sizes=[3, 5, 21], mode="linear"),
    _case("nearest_rank5", (1, 2, 3, 4, 5), scales=[1, 1, 1, 3, 2]),
]
