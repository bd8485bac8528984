"""DepthToSpace and SpaceToDepth with ONNX semantics (modes DCR and CRD), NCHW. DepthToSpace moves blocks of
`blocksize`² channels onto a blocksize × blocksize patch of pixels: DCR (TensorFlow's order) takes channel
(i·bs + j)·C' + c for patch offset (i, j) of output channel c, CRD (PyTorch's PixelShuffle) channel c·bs² + i·bs + j.
SpaceToDepth is the inverse of either (DCR by default). One work-item gathers one output element; on a CPU a
DepthToSpace runs a work-item an output row (depth_to_space_rows: no divisions per element)."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import Case, TensorInfo

OP_TYPES = ("DepthToSpace", "SpaceToDepth")


def _check(shape, blocksize, op_type, mode="DCR"):
    bs = int(blocksize)
    if len(shape) != 4 or bs < 1:
        raise ConvertError(f"{op_type} needs a 4-d input and blocksize >= 1, not {list(shape)} and {blocksize}")
    n, c, h, w = shape
    if mode not in ("DCR", "CRD"):
        raise ConvertError(f"{op_type} mode {mode!r} (DCR or CRD)")
    if op_type == "DepthToSpace":
        if c % (bs * bs):
            raise ConvertError(f"DepthToSpace: {c} channels do not divide into blocks of {bs}x{bs}")
        return bs, (n, c // (bs * bs), h * bs, w * bs)
    if h % bs or w % bs:
        raise ConvertError(f"SpaceToDepth: {h}x{w} does not divide into blocks of {bs}x{bs}")
    return bs, (n, c * bs * bs, h // bs, w // bs)


def infer(x: TensorInfo, _op_type="DepthToSpace", blocksize=0, mode="DCR", **_):
    return [(_check(x.shape, blocksize, _op_type, mode)[1], x.dtype)]


def reference(x, _op_type="DepthToSpace", blocksize=0, mode="DCR", **_):
    bs, out = _check(x.shape, blocksize, _op_type, mode)
    n, c, h, w = x.shape
    if _op_type == "SpaceToDepth":
        y = x.reshape(n, c, h // bs, bs, w // bs, bs).transpose((0, 3, 5, 1, 2, 4) if mode == "DCR" else
                                                                (0, 1, 3, 5, 2, 4))
    elif mode == "DCR":
        y = x.reshape(n, bs, bs, c // (bs * bs), h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        y = x.reshape(n, c // (bs * bs), bs, bs, h, w).transpose(0, 1, 4, 2, 5, 3)
    return [np.ascontiguousarray(y.reshape(out))]


def launch(ctx, _op_type="DepthToSpace", blocksize=0, mode="DCR", **_):
    bs, out = _check(ctx.inputs[0].shape, blocksize, _op_type, mode)
    if int(np.prod(out)) == 0:
        return
    order = (2 if _op_type == "SpaceToDepth" else 0) + int(mode == "CRD")
    shuffle(ctx, ctx.inputs[0], ctx.outputs[0], ctx.inputs[0].shape, out, bs, order)


def shuffle(ctx, src, dst, in_shape, out_shape, bs: int, order: int) -> None:  # noqa: PLR0913
    """The launch moving `src` [in_shape] to `dst` [out_shape] (ORDER of kernels/depth_to_space.cl); also
    ConvTranspose's on CPUs (ops/conv_transpose.py)."""
    (_, c_in, h_in, w_in), (n, c_out, h_out, w_out) = in_shape, out_shape
    args = [src, dst, *map(np.int32, (c_in, h_in, w_in, c_out, h_out, w_out, n * c_out))]
    options = (f"-DBS={bs}", f"-DORDER={order}")
    if ctx.device.is_gpu or order >= 2:
        ctx.kernel("depth_to_space", "depth_to_space", (w_out, h_out, n * c_out), args, options=options)
    else:
        ctx.kernel("depth_to_space", "depth_to_space_rows", (h_out, n * c_out), args, options=options,
                   lws=(1, 1))


CASES = [
    Case("dcr_bs2", [(1, 8, 3, 5)], {"blocksize": 2, "mode": "DCR"}),
    Case("crd_bs2", [(2, 12, 4, 3)], {"blocksize": 2, "mode": "CRD"}),
    Case("dcr_bs3_default_mode", [(1, 18, 2, 3)], {"blocksize": 3}),
    Case("crd_bs4", [(1, 32, 3, 2)], {"blocksize": 4, "mode": "CRD"}),
    Case("s2d_bs2", [(1, 3, 6, 8)], {"blocksize": 2}, op_type="SpaceToDepth"),
    Case("s2d_bs3", [(2, 5, 9, 6)], {"blocksize": 3}, op_type="SpaceToDepth"),
    Case("s2d_crd_bs2", [(1, 3, 4, 6)], {"blocksize": 2, "mode": "CRD"}, op_type="SpaceToDepth"),
]
