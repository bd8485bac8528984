"""ConvTranspose: NumPy reference (N-d, grouped, dilated, output_padding/output_shape, ONNX auto_pad) and a
2-D OpenCL kernel that gathers, for each output pixel, the input pixels whose taps land on it. On a CPU, a
transpose whose kernel equals its stride (S x S, no padding, one group: a detection or segmentation head's
upsampling) touches each output pixel with one tap of one input pixel: it runs as a 1x1 conv to M·S² channels
(conv_cpu.py's kernels) and a DepthToSpace (CRD) of those channels into the output."""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from ..errors import ConvertError
from . import activation as act
from . import conv_cpu, conv_variants, depth_to_space, kernel_args
from .base import Case, Const, Scratch, TensorInfo
from .conv_layer import ConstVector, ConvLayer, Epilogue, pack_blocks, split_inputs, window_options
from .geometry import Window, transpose_window, window

OP_TYPES = ("ConvTranspose",)


def infer(x: TensorInfo, w: TensorInfo, *rest, _op_type="ConvTranspose", group=1, activation=None, **attrs):
    names = ("kernel_shape", "strides", "pads", "dilations", "output_padding", "output_shape", "auto_pad")
    out = transpose_window(x.shape, w.shape, group, **{a: attrs[a] for a in names if a in attrs}).out
    bias = split_inputs(rest, activation)[0]
    m = w.shape[1] * int(group)
    if bias is not None and tuple(bias.shape) != (m,):
        raise ConvertError(f"bias of shape {list(bias.shape)} for {m} output channels")
    return [((x.shape[0], m, *out), "float32")]


def reference(x, w, *rest, _op_type="ConvTranspose", group=1, kernel_shape=None, strides=None, pads=None,  # noqa: PLR0913
              dilations=None, output_padding=None, output_shape=None, auto_pad="NOTSET", activation=None,
              activation_params=(), **_):
    b, _, slope = split_inputs(rest, activation)
    win = transpose_window(x.shape, w.shape, group, kernel_shape, strides, pads, dilations, output_padding,
                           output_shape, auto_pad)
    k, s, p, d, out = win.kernel, win.strides, win.pads, win.dilations, win.out
    n, c, nd, mg = x.shape[0], x.shape[1], len(k), w.shape[1]
    # Every input pixel times every tap: cols[n, g, m, tap, pixel]; then scatter-add each tap's plane.
    wt = w.reshape(group, c // group, mg * int(np.prod(k))).transpose(0, 2, 1)
    cols = np.matmul(wt, x.reshape(n, group, c // group, -1)).reshape(n, group * mg, -1, *x.shape[2:])
    span = [s[i] * (x.shape[2 + i] - 1) + (k[i] - 1) * d[i] + 1 for i in range(nd)]
    lo = [min(0, p[i]) for i in range(nd)]  # a canvas that holds both the full result and the padded output
    canvas = [max(out[i] + p[i], span[i]) - lo[i] for i in range(nd)]
    y = np.zeros((n, group * mg, *canvas), np.float32)
    for t, tap in enumerate(itertools.product(*map(range, k))):
        at = tuple(slice(tap[i] * d[i] - lo[i], tap[i] * d[i] - lo[i] + s[i] * (x.shape[2 + i] - 1) + 1, s[i])
                   for i in range(nd))
        y[(slice(None), slice(None)) + at] += cols[:, :, t]
    y = y[(slice(None), slice(None)) + tuple(slice(p[i] - lo[i], p[i] - lo[i] + out[i]) for i in range(nd))]
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * nd)
    return [act.reference(np.ascontiguousarray(y, np.float32), activation, activation_params, slope)]


def launch(ctx, *, _op_type="ConvTranspose", group=1, kernel_shape=None, strides=None, pads=None,  # noqa: PLR0913
           dilations=None, output_padding=None, output_shape=None, auto_pad="NOTSET", activation=None,
           activation_params=(), **_):
    x, w = ctx.inputs[0], ctx.inputs[1]
    if len(x.shape) != 4 or w.const is None:
        raise ConvertError(f"node {ctx.node.name!r}: pymace runs 2-D ConvTranspose with constant weights")
    epilogue = Epilogue.of(ctx, ctx.inputs[2:], activation, activation_params)
    win = transpose_window(x.shape, w.shape, group, kernel_shape, strides, pads, dilations, output_padding,
                           output_shape, auto_pad)
    if not ctx.device.is_gpu and _pointwise_stride(win, x.shape, group):
        _launch_pointwise(ctx, x, w.const, epilogue, win.strides[0])
        return
    (n, c, h, wd), mg, (oh, ow), p = x.shape, w.shape[1], win.out, win.pads
    cg, mbg = c // group, -(-mg // 4)
    # [C, Mg, KH, KW] -> rows per output channel ordered (tap, input channel) -> blocks of 4 output channels
    rows = w.const.reshape(group, cg, mg, -1).transpose(0, 2, 3, 1).reshape(group * mg, -1)
    values = dict(x=x, w=Const(pack_blocks(rows, group)), **epilogue.args(group * mg, lambda v: pack_blocks(v, group)),
                  y=ctx.outputs[0], N=n, CG=cg, MG=mg, MBG=mbg, G=group, H=h, W=wd, OH=oh, OW=ow, PT=p[0], PL=p[1])
    kernel_args.launch(ctx, "conv_transpose", "conv_transpose", (ow, oh, n * group * mbg), values,
                       window_options(win) + epilogue.options())


def _pointwise_stride(win: Window, x_shape, group: int) -> int:
    """S when every output pixel is one tap of one input pixel: one group, kernel = stride = S on both axes, no
    dilation, padding or output padding; else 0."""
    (kh, kw), (sh, sw), (h, w) = win.kernel, win.strides, x_shape[2:]
    plain = win.dilations == (1, 1) and not any(win.pads) and win.out == (h * sh, w * sw)
    return sh if group == 1 and kh == kw == sh == sw and plain else 0


def _launch_pointwise(ctx, x, w: np.ndarray, epilogue: Epilogue, s: int) -> None:
    (n, c, h, wd), mg, taps = x.shape, w.shape[1], s * s
    rows = np.ascontiguousarray(w.reshape(c, mg * taps).T).reshape(mg * taps, c, 1, 1)  # channel (m, kh, kw): CRD
    layer = ConvLayer((n, c, h, wd), rows.shape, 1, window((h, wd), (1, 1)))
    per_tap = {name: ConstVector(np.repeat(np.broadcast_to(np.asarray(ref.const, np.float32).reshape(-1), (mg,)), taps))
               for name, ref in (("bias", epilogue.bias), ("slope", epilogue.slope)) if ref is not None}
    cols = Scratch(n * mg * taps * h * wd) if s > 1 else None
    conv_cpu.launch(ctx, layer, x, rows, dataclasses.replace(epilogue, **per_tap),
                    conv_variants.heuristic(layer, ctx.device), out=cols)
    if cols is not None:
        depth_to_space.shuffle(ctx, cols, ctx.outputs[0], (n, mg * taps, h, wd), (n, mg, h * s, wd * s), s, 1)


def _attrs(k, s, pads, group=1, output_padding=(0, 0), dilations=(1, 1), **extra):
    return dict(kernel_shape=list(k), strides=list(s), pads=list(pads), group=group,
                output_padding=list(output_padding), dilations=list(dilations), **extra)


CASES = [
    Case("k2s2_db_head", [(1, 16, 10, 12), (16, 8, 2, 2), (8,)], _attrs((2, 2), (2, 2), [0] * 4,
                                                                          activation="Relu"), consts=(1, 2)),
    Case("k3s1_pad1", [(2, 6, 7, 9), (6, 5, 3, 3), (5,)], _attrs((3, 3), (1, 1), [1] * 4), consts=(1, 2)),
    Case("k3s2_outpad_asym", [(1, 5, 6, 7), (5, 7, 3, 3), None], _attrs((3, 3), (2, 2), [1, 0, 0, 1],
                                                                         output_padding=(1, 1)), consts=(1,)),
    Case("grouped_dilated", [(1, 8, 5, 6), (8, 3, 3, 2), (6,)], _attrs((3, 2), (2, 3), [0, 1, 2, 0], group=2,
                                                                      dilations=(2, 1)), consts=(1, 2)),
    Case("k2s2_prelu_batch2", [(2, 12, 5, 7), (12, 3, 2, 2), (3,), np.linspace(-0.4, 0.2, 3, dtype=np.float32)],
         _attrs((2, 2), (2, 2), [0] * 4, activation="PRelu"), consts=(1, 2, 3)),
    Case("k3s3_no_bias", [(1, 9, 4, 3), (9, 10, 3, 3)], _attrs((3, 3), (3, 3), [0] * 4), consts=(1,)),
    Case("k1s1_relu6", [(1, 7, 5, 6), (7, 9, 1, 1), (9,)], _attrs((1, 1), (1, 1), [0] * 4, activation="Clip",
                                                                  activation_params=[0.0, 6.0]), consts=(1, 2)),
    Case("k4s2_prelu", [(1, 4, 6, 6), (4, 6, 4, 4), (6,), np.linspace(-0.3, 0.3, 6, dtype=np.float32)],
         _attrs((4, 4), (2, 2), [1] * 4, activation="PRelu"), consts=(1, 2, 3)),
]
