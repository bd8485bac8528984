"""Pad: `pads` in ONNX order ([begin of every axis, end of every axis], or of `axes` only), `mode` constant /
reflect / edge / wrap, `value` for constant. Negative pads crop first; the padding then reflects, repeats or
wraps the cropped tensor, as ONNX's reference does."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import Case, Const, TensorInfo, check_axis, check_ints

OP_TYPES = ("Pad",)
MODES = {"constant": 0, "reflect": 1, "edge": 2, "wrap": 3}
CPU_PAD_WORK = 1024  # pad_rows: output values a work-item at least (whole rows; work-groups cost PoCL time)


def _pads(rank: int, pads, axes=None) -> tuple[list[int], list[int]]:
    """Begin and end pads of every axis (negative: crop, as ONNX allows)."""
    pads = check_ints(pads, "Pad", "pads")
    axes = [check_axis(a, rank, "Pad") for a in check_ints(axes, "Pad", "axes")] if axes is not None \
        else list(range(rank))
    if len(pads) != 2 * len(axes) or len(set(axes)) != len(axes):
        raise ConvertError(f"Pad pads {pads[:16]} must hold a begin and an end for each of the {len(axes)} axes")
    begin, end = [0] * rank, [0] * rank
    for k, a in enumerate(axes):
        begin[a], end[a] = pads[k], pads[k + len(axes)]
    return begin, end


def infer(x: TensorInfo, pads, mode="constant", value=0.0, axes=None, _op_type: str = "Pad", **_) -> list:
    begin, end = _pads(len(x.shape), pads, axes)
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode not in MODES:
        raise ConvertError(f"Pad mode {str(mode)[:20]!r} is not one of {', '.join(MODES)}")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConvertError(f"Pad value {str(value)[:20]!r} is not a number")
    out = tuple(d + b + e for d, b, e in zip(x.shape, begin, end, strict=True))
    kept = [d + min(b, 0) + min(e, 0) for d, b, e in zip(x.shape, begin, end, strict=True)]
    if any(o < 0 or k < 0 for o, k in zip(out, kept)):
        raise ConvertError(f"Pad pads {begin + end} crop more than the input {list(x.shape)} holds")
    if mode != "constant" and any(o > 0 and k == 0 for o, k in zip(out, kept)):
        raise ConvertError(f"Pad mode {mode!r} cannot extend an axis left empty by the crop (pads {begin + end})")
    return [(out, x.dtype)]


def reference(x, pads, mode="constant", value=0.0, axes=None, _op_type: str = "Pad", **_) -> list[np.ndarray]:
    begin, end = _pads(x.ndim, pads, axes)
    x = x[tuple(slice(-min(b, 0), d + min(e, 0)) for d, b, e in zip(x.shape, begin, end, strict=True))]
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end, strict=True)]
    mode = mode.decode() if isinstance(mode, bytes) else mode
    kw = {"constant_values": np.array(value).astype(x.dtype)} if mode == "constant" else {}
    return [np.pad(x, widths, mode=mode, **kw)]


def launch(ctx, pads, mode="constant", value=0.0, axes=None, _op_type: str = "Pad", **_) -> None:
    in_shape, out_shape = ctx.inputs[0].shape, ctx.outputs[0].shape
    n = int(np.prod(out_shape, dtype=np.int64))
    if n == 0:
        return
    begin, end = _pads(len(in_shape), pads, axes)
    crop = [-min(b, 0) for b in begin]
    kept = [d - c + min(e, 0) for d, c, e in zip(in_shape, crop, end, strict=True)]
    strides = list(np.cumprod((1,) + tuple(in_shape[:0:-1]))[::-1])
    table = np.array(list(out_shape) + [max(b, 0) for b in begin] + kept + crop + strides, np.int32)
    mode = mode.decode() if isinstance(mode, bytes) else mode
    options = (f"-DRANK={len(out_shape)}", f"-DMODE={MODES[mode]}")
    if not ctx.device.is_gpu and out_shape:  # rows a work-item (kernels/pad.cl)
        rows = n // out_shape[-1]
        per_item = max(1, min(rows, CPU_PAD_WORK // out_shape[-1]))
        ctx.kernel("pad", "pad_rows", (-(-rows // per_item),),
                   [ctx.inputs[0], ctx.outputs[0], Const(table), np.float32(value), np.int32(rows)],
                   options=(*options, f"-DROWS={per_item}"), lws=(1,))
        return
    ctx.kernel("pad", "pad_gather", (n,),
               [ctx.inputs[0], ctx.outputs[0], Const(table), np.float32(value), np.int32(n)], options=options)


CASES = [
    Case("constant_hw", [(1, 3, 5, 7)], {"pads": [0, 0, 1, 2, 0, 0, 3, 1], "value": 0.75}),
    Case("reflect_hw", [(2, 5, 6, 7)], {"pads": [0, 0, 2, 3, 0, 0, 5, 1], "mode": "reflect"}),
    Case("edge_rank3", [(3, 4, 5)], {"pads": [1, 0, 4, 2, 3, 0], "mode": "edge"}),
    Case("channel_pad", [(1, 6, 4, 4)], {"pads": [0, 2, 0, 0, 0, 3, 0, 0]}),
    Case("negative_crop", [(1, 3, 8, 9)], {"pads": [0, 0, -2, 1, 0, 0, 1, -3], "value": -1.5}),
    Case("reflect_after_crop", [(2, 7, 9)], {"pads": [0, -1, 2, 0, 3, -2], "mode": "reflect"}),
    Case("rank5_wrap", [(1, 2, 3, 4, 5)], {"pads": [0, 1, 2, 0, 3, 0, 0, 1, 4, 2], "mode": "wrap"}),
    Case("rank2_axes", [(5, 9)], {"pads": [2, 3], "axes": [-1], "mode": "edge"}),
    # a channel pad of rows longer than one work-item's share (pad_rows takes whole rows), and a row crop
    Case("channel_pad_wide_rows", [(1, 5, 3, 1100)], {"pads": [0, 0, 0, 0, 0, 3, 0, 0], "value": 2.5}),
    Case("rank1_crop_and_pad", [(37,)], {"pads": [-4, 6], "value": -0.5}),
    Case("reflect_rows_many", [(2, 3, 40, 9)], {"pads": [0, 1, 3, 4, 0, 2, 1, 5], "mode": "reflect"}),
]
