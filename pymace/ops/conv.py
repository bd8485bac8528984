"""Conv: the NumPy reference (N-d, grouped, dilated, ONNX auto_pad) and, for 2-D NCHW with constant weights, the
OpenCL kernels of kernels/conv.cl by family: conv_direct.py (conv1x1, conv_direct, conv_depthwise),
conv_gemm.py (conv_gemm, the GPUs' tiled implicit GEMM) and conv_cpu.py (PoCL's explicit-vector kernels).
conv_variants.py decides which runs a node, `pymace tune` may pick another of its candidates, and pymace's
attributes `kernel_variant` and `tiling` force one (so that the tests run every kernel on every device). A GPU
plan's fusions around the conv (ops/conv_fusion.py: input view, prologue, prefix, output layout) run on
conv_gemm only."""
from __future__ import annotations

import itertools

import numpy as np

from ..errors import ConvertError
from . import activation as act
from . import conv_cpu, conv_direct, conv_gemm, conv_variants
from .base import Case, TensorInfo
from .conv_fusion import ConvFusion
from .conv_layer import ConvLayer, Epilogue, split_inputs
from .geometry import conv_window

OP_TYPES = ("Conv",)


def infer(x: TensorInfo, w: TensorInfo, *rest, _op_type="Conv", group=1, activation=None, residual=False,
          **attrs):
    rest, fusion = ConvFusion.split(rest, attrs)
    x_shape = fusion.x_shape(x.shape)
    geo = {a: attrs.get(a) for a in ("kernel_shape", "strides", "pads", "dilations")}
    window = conv_window(x_shape, w.shape, group, auto_pad=attrs.get("auto_pad", "NOTSET"), **geo)
    fusion.check_window(window)
    out = window.out
    bias, res, _ = split_inputs(rest, activation, residual)
    if bias is not None and tuple(bias.shape) != (w.shape[0],):
        raise ConvertError(f"bias of shape {list(bias.shape)} for {w.shape[0]} output channels")
    y = (x_shape[0], w.shape[0], *out)
    if res is not None and tuple(res.shape) != y:
        raise ConvertError(f"residual of shape {list(res.shape)} for an output of shape {list(y)}")
    return [(fusion.out_shape(y), "float32")]


def reference(x, w, *rest, _op_type="Conv", kernel_shape=None, strides=None, pads=None, dilations=None,  # noqa: PLR0913
              group=1, auto_pad="NOTSET", activation=None, activation_params=(), residual=False, **attrs):
    rest, fusion = ConvFusion.split(rest, attrs)
    x = fusion.reference_input(x) if fusion.active else x
    b, res, slope = split_inputs(rest, activation, residual)
    win = conv_window(x.shape, w.shape, group, kernel_shape, strides, pads, dilations, auto_pad)
    k, s, p, d, out = win.kernel, win.strides, win.pads, win.dilations, win.out
    n, c, nd, m = x.shape[0], x.shape[1], len(k), w.shape[0]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p[i], p[nd + i]) for i in range(nd)])
    patches = []  # im2col: one strided window of the padded input per kernel tap
    for tap in itertools.product(*map(range, k)):
        window = tuple(slice(tap[i] * d[i], tap[i] * d[i] + s[i] * (out[i] - 1) + 1, s[i]) for i in range(nd))
        patches.append(xp[(slice(None), slice(None)) + window])
    cols = np.stack(patches, axis=2).reshape(n, group, (c // group) * len(patches), -1)
    y = np.matmul(w.reshape(group, m // group, -1), cols).reshape(n, m, *out)
    if b is not None:
        y = y + b.reshape((1, m) + (1,) * nd)
    if res is not None:  # pymace's fused residual Add (passes/fuse_residual.py)
        y = y + res
    return [fusion.reference_output(act.reference(y.astype(np.float32), activation, activation_params, slope))]


def launch(ctx, *, _op_type="Conv", kernel_shape=None, strides=None, pads=None, dilations=None, group=1,  # noqa: PLR0913
           auto_pad="NOTSET", activation=None, activation_params=(), kernel_variant=None, residual=False,
           tiling=None, **attrs):
    x, w = ctx.inputs[0], ctx.inputs[1]
    if len(x.shape) != 4 or w.const is None:
        raise ConvertError(f"node {ctx.node.name!r}: pymace runs 2-D Conv with constant weights only")
    rest, fusion = ConvFusion.split(ctx.inputs[2:], attrs)
    x_shape = fusion.x_shape(x.shape)
    window = conv_window(x_shape, w.shape, group, kernel_shape, strides, pads, dilations, auto_pad)
    fusion.check_window(window)
    layer = ConvLayer(x_shape, tuple(w.shape), int(group), window)
    epilogue = Epilogue.of(ctx, rest, activation, activation_params, residual)
    if fusion.active and (group != 1 or kernel_variant not in (None, "conv_gemm")):
        raise ConvertError(f"node {ctx.node.name!r}: a conv's fusions (ops/conv_fusion.py) run on conv_gemm, "
                           f"one group only")
    variant = _variant(ctx, layer, kernel_variant, tiling, epilogue, fusion)
    if variant.kernel == "conv_gemm":
        conv_gemm.launch(ctx, layer, x, w.const, epilogue, variant.tiling, fusion=fusion)
    elif variant.kernel.endswith("_cpu"):
        conv_cpu.launch(ctx, layer, x, w.const, epilogue, variant)
    elif variant.kernel == "conv_depthwise":
        conv_direct.launch_depthwise(ctx, layer, x, w.const, epilogue, variant.px)
    else:
        conv_direct.launch(ctx, layer, x, w.const, epilogue, variant)


def _variant(ctx, layer, kernel_variant, tiling, epilogue, fusion) -> conv_variants.Variant:
    """The forced variant, else the heuristic's, or the one `pymace tune` measured best for this geometry on this
    device; with fusions one of conv_gemm's tilings."""
    if kernel_variant or (fusion.active and not ctx.device.is_gpu):
        return conv_variants.forced(layer, ctx.device, kernel_variant or "conv_gemm", tiling)
    default, candidates = conv_variants.candidates(layer, ctx.device)
    if fusion.active:
        candidates = ([v for v in candidates if v.kernel == "conv_gemm"]
                      or [conv_variants.heuristic(layer, ctx.device, "conv_gemm")])
        default = default if default.kernel == "conv_gemm" else candidates[0]
    key = conv_variants.choice_key(layer, residual=epilogue.residual is not None) + (" fused" if fusion.active else "")
    return conv_variants.Variant.of(ctx.choose(key, default.choice(), [v.choice() for v in candidates]))

def _case(name, x, w, bias=True, consts=(1, 2), **attrs):
    return Case(name, [x, w, (w[0],) if bias else None], attrs, consts=consts)


_G = dict(strides=[1, 1], dilations=[1, 1], group=1)
CASES = [
    _case("1x1", (1, 24, 14, 14), (40, 24, 1, 1), kernel_shape=[1, 1], pads=[0] * 4, **_G),
    _case("1x1_tail_relu6", (2, 13, 7, 7), (30, 13, 1, 1), kernel_shape=[1, 1], pads=[0] * 4, **_G,
          activation="Clip", activation_params=[0.0, 6.0]),
    _case("3x3_pad1_relu", (1, 8, 15, 17), (12, 8, 3, 3), kernel_shape=[3, 3], pads=[1] * 4, **_G,
          activation="Relu"),
    _case("3x3_s2_nobias", (1, 3, 32, 30), (16, 3, 3, 3), bias=False, consts=(1,), kernel_shape=[3, 3],
          pads=[1, 1, 1, 1], strides=[2, 2], dilations=[1, 1], group=1),
    _case("5x5_asym_pads", (1, 6, 20, 19), (10, 6, 5, 5), kernel_shape=[5, 5], pads=[1, 2, 3, 0], **_G),
    _case("7x7_s2_p3", (1, 3, 40, 40), (8, 3, 7, 7), kernel_shape=[7, 7], pads=[3] * 4, strides=[2, 2],
          dilations=[1, 1], group=1),
    _case("1x1_s2", (1, 16, 14, 14), (20, 16, 1, 1), kernel_shape=[1, 1], pads=[0] * 4, strides=[2, 2],
          dilations=[1, 1], group=1),
    _case("dilated", (1, 5, 18, 18), (7, 5, 3, 3), kernel_shape=[3, 3], pads=[2] * 4, strides=[1, 1],
          dilations=[2, 2], group=1),
    _case("grouped", (1, 12, 11, 13), (18, 4, 3, 3), kernel_shape=[3, 3], pads=[1] * 4, strides=[1, 1],
          dilations=[1, 1], group=3, activation="LeakyRelu", activation_params=[0.1]),
    _case("dw3x3", (2, 32, 14, 15), (32, 1, 3, 3), kernel_shape=[3, 3], pads=[1] * 4, strides=[1, 1],
          dilations=[1, 1], group=32, activation="Clip", activation_params=[0.0, 6.0]),
    _case("dw3x3_s2", (1, 24, 17, 16), (24, 1, 3, 3), kernel_shape=[3, 3], pads=[0, 0, 1, 1], strides=[2, 2],
          dilations=[1, 1], group=24),
    _case("dw5x5", (1, 16, 16, 16), (16, 1, 5, 5), kernel_shape=[5, 5], pads=[2] * 4, strides=[1, 1],
          dilations=[1, 1], group=16, activation="HardSwish"),
    _case("dw3x3_silu", (1, 16, 9, 10), (16, 1, 3, 3), kernel_shape=[3, 3], pads=[1] * 4, strides=[1, 1],
          dilations=[1, 1], group=16, activation="Silu", kernel_variant="conv_depthwise"),
    _case("1x1_silu", (1, 20, 7, 9), (12, 20, 1, 1), kernel_shape=[1, 1], pads=[0] * 4, **_G, activation="Silu"),
    _case("3x3_gelu", (1, 6, 9, 8), (10, 6, 3, 3), kernel_shape=[3, 3], pads=[1] * 4, **_G, activation="Gelu",
          activation_params=[0.0]),
    _case("dw_multiplier2", (1, 8, 9, 9), (16, 1, 3, 3), kernel_shape=[3, 3], pads=[1] * 4, strides=[1, 1],
          dilations=[1, 1], group=8),
    Case("prelu", [(1, 10, 12, 12), (14, 10, 3, 3), (14,), np.linspace(-0.5, 0.5, 14, dtype=np.float32)],
         dict(kernel_shape=[3, 3], pads=[1] * 4, **_G, activation="PRelu"), consts=(1, 2, 3)),
    Case("prelu_nobias_1x1", [(1, 10, 6, 6), (9, 10, 1, 1), None, np.float32([0.25])],
         dict(kernel_shape=[1, 1], pads=[0] * 4, **_G, activation="PRelu"), consts=(1, 3)),
    _case("defaults_only", (1, 4, 9, 8), (6, 4, 3, 3)),
    # conv_gemm (the GPU's variant) forced so that every device runs it: channels and pixels off the 32/64
    # tiles, K off the 16/32/64 slices, stride 2, dilation, asymmetric pads, batch 2, and split K (K >= 1024)
    _case("gemm_1x1_tails_tk16", (2, 13, 9, 11), (70, 13, 1, 1), kernel_shape=[1, 1], pads=[0] * 4, **_G,
          activation="Relu", kernel_variant="conv_gemm"),
    _case("gemm_3x3_s2", (1, 19, 23, 21), (33, 19, 3, 3), kernel_shape=[3, 3], pads=[1] * 4, strides=[2, 2],
          dilations=[1, 1], group=1, kernel_variant="conv_gemm"),
    _case("gemm_7x7_s2_asym", (1, 3, 30, 27), (20, 3, 7, 7), kernel_shape=[7, 7], pads=[3, 2, 1, 3],
          strides=[2, 2], dilations=[1, 1], group=1, activation="Clip", activation_params=[0.0, 6.0],
          kernel_variant="conv_gemm"),
    _case("gemm_dilated", (1, 5, 18, 18), (7, 5, 3, 3), kernel_shape=[3, 3], pads=[2] * 4, strides=[1, 1],
          dilations=[2, 2], group=1, kernel_variant="conv_gemm"),
    _case("gemm_splitk_7x7", (1, 128, 7, 7), (40, 128, 3, 3), kernel_shape=[3, 3], pads=[1] * 4, **_G,
          activation="HardSwish", kernel_variant="conv_gemm"),
    _case("gemm_silu_splitk", (1, 96, 6, 6), (48, 96, 3, 3), kernel_shape=[3, 3], pads=[1] * 4, **_G,
          activation="Silu", kernel_variant="conv_gemm"),
    _case("gemm_small_map_32x32_tk32", (1, 3, 5, 5), (24, 3, 3, 3), kernel_shape=[3, 3], pads=[1] * 4, **_G,
          kernel_variant="conv_gemm"),
    # the fused residual Add (passes/fuse_residual.py) on every variant, with and without an activation after it
    Case("residual_1x1", [(1, 24, 9, 9), (24, 24, 1, 1), (24,), (1, 24, 9, 9)],
         dict(kernel_shape=[1, 1], pads=[0] * 4, **_G, residual=True), consts=(1, 2)),
    Case("residual_1x1_tail_relu", [(2, 10, 5, 7), (13, 10, 1, 1), None, (2, 13, 5, 7)],
         dict(kernel_shape=[1, 1], pads=[0] * 4, **_G, residual=True, activation="Relu"), consts=(1,)),
    Case("residual_dw", [(1, 16, 11, 13), (16, 1, 3, 3), (16,), (1, 16, 11, 13)],
         dict(kernel_shape=[3, 3], pads=[1] * 4, strides=[1, 1], dilations=[1, 1], group=16, residual=True,
              activation="Clip", activation_params=[0.0, 6.0]), consts=(1, 2)),
    Case("residual_direct_prelu", [(1, 6, 10, 9), (10, 6, 3, 3), (10,), (1, 10, 10, 9),
                                   np.linspace(-0.3, 0.3, 10, dtype=np.float32)],
         dict(kernel_shape=[3, 3], pads=[1] * 4, **_G, residual=True, activation="PRelu",
              kernel_variant="conv_direct"), consts=(1, 2, 4)),
    Case("residual_gemm", [(1, 20, 9, 11), (36, 20, 3, 3), (36,), (1, 36, 9, 11)],
         dict(kernel_shape=[3, 3], pads=[1] * 4, **_G, residual=True, activation="Relu",
              kernel_variant="conv_gemm"), consts=(1, 2)),
    Case("residual_gemm_splitk", [(1, 256, 7, 7), (40, 256, 3, 3), (40,), (1, 40, 7, 7)],
         dict(kernel_shape=[3, 3], pads=[1] * 4, **_G, residual=True, kernel_variant="conv_gemm"),
         consts=(1, 2)),
    # split K summed by a second launch (conv_splitk_reduce) instead of each tile's last work-group
    Case("residual_gemm_splitk_reduce_launch", [(2, 256, 7, 7), (40, 256, 3, 3), (40,), (2, 40, 7, 7)],
         dict(kernel_shape=[3, 3], pads=[1] * 4, **_G, residual=True, activation="Relu", kernel_variant="conv_gemm",
              tiling=[32, 32, 32, 4, 0]), consts=(1, 2)),
    _case("gemm_splitk_last_batch2", (2, 300, 5, 6), (44, 300, 1, 1), kernel_shape=[1, 1], pads=[0] * 4, **_G,
          activation="Clip", activation_params=[0.0, 6.0], kernel_variant="conv_gemm", tiling=[64, 32, 16, 8, 1]),
    # the CPU kernels (chosen on PoCL; forced here so that every device runs them): channels off the 8-channel
    # block, pixel counts off the 16-pixel vector (overlapping last block), stride 2 and 3, residual, PRelu
    _case("cpu_1x1_small_map", (1, 12, 3, 5), (10, 12, 1, 1), kernel_shape=[1, 1], pads=[0] * 4, **_G),
    Case("cpu_1x1_residual_prelu", [(2, 9, 5, 7), (19, 9, 1, 1), (19,), (2, 19, 5, 7),
                                    np.linspace(-0.5, 0.5, 19, dtype=np.float32)],
         dict(kernel_shape=[1, 1], pads=[0] * 4, **_G, residual=True, activation="PRelu",
              kernel_variant="conv1x1_cpu"), consts=(1, 2, 4)),
    Case("cpu_1x1_s2x1_residual_batch2", [(2, 19, 9, 20), (12, 19, 1, 1), (12,), (2, 12, 5, 20)],
         dict(kernel_shape=[1, 1], pads=[0] * 4, strides=[2, 1], dilations=[1, 1], group=1, residual=True,
              activation="Relu", kernel_variant="conv1x1_cpu"), consts=(1, 2)),
    _case("cpu_1x1_s3_odd_map", (1, 8, 13, 11), (10, 8, 1, 1), kernel_shape=[1, 1], pads=[0] * 4, strides=[3, 3],
          dilations=[1, 1], group=1),
    Case("cpu_direct_residual_prelu_s2", [(1, 5, 21, 35), (11, 5, 3, 3), (11,), (1, 11, 11, 18),
                                          np.linspace(-0.3, 0.3, 11, dtype=np.float32)],
         dict(kernel_shape=[3, 3], pads=[1, 1, 1, 2], strides=[2, 2], dilations=[1, 1], group=1, residual=True,
              activation="PRelu", kernel_variant="conv_direct_cpu"), consts=(1, 2, 4)),
    _case("cpu_direct_grouped_s1", (1, 12, 9, 19), (18, 4, 3, 3), kernel_shape=[3, 3], pads=[1] * 4, strides=[1, 1],
          dilations=[1, 1], group=3, kernel_variant="conv_direct_cpu"),
    _case("cpu_rows_s3_dilated", (1, 4, 20, 41), (9, 4, 3, 3), kernel_shape=[3, 3], pads=[2] * 4, strides=[3, 3],
          dilations=[2, 2], group=1, activation="Relu", kernel_variant="conv_rows_cpu"),
    Case("cpu_cvec_grouped_residual_prelu", [(1, 12, 9, 19), (21, 4, 3, 3), (21,), (1, 21, 9, 19),
                                             np.linspace(-0.5, 0.5, 21, dtype=np.float32)],
         dict(kernel_shape=[3, 3], pads=[1] * 4, strides=[1, 1], dilations=[1, 1], group=3, residual=True,
              activation="PRelu", kernel_variant="conv_cvec_cpu"), consts=(1, 2, 4)),
    _case("cpu_cvec_s2_dilated_asym_batch2", (2, 5, 23, 30), (19, 5, 3, 3), kernel_shape=[3, 3], pads=[2, 1, 0, 3],
          strides=[2, 2], dilations=[2, 2], group=1, activation="Clip", activation_params=[0.0, 6.0],
          kernel_variant="conv_cvec_cpu"),
    _case("cpu_cvec_narrow_map", (1, 7, 3, 2), (33, 7, 3, 3), kernel_shape=[3, 3], pads=[1] * 4, **_G,
          kernel_variant="conv_cvec_cpu"),
    _case("cpu_rows_dw_s2_wide", (1, 10, 9, 70), (10, 1, 3, 3), kernel_shape=[3, 3], pads=[1] * 4,
          strides=[2, 2], dilations=[1, 1], group=10, kernel_variant="conv_rows_cpu"),
    Case("gemm_splitk_prelu_1x1", [(1, 1100, 6, 6), (60, 1100, 1, 1), None, np.linspace(-1, 1, 60, dtype=np.float32)],
         dict(kernel_shape=[1, 1], pads=[0] * 4, **_G, activation="PRelu", kernel_variant="conv_gemm"),
         consts=(1, 3)),
    # a GPU plan's fusions (ops/conv_fusion.py), on conv_gemm whatever the device: a channel view of the input
    # with a BatchNormalization + ReLU prologue (DenseNet), a squeeze-excitation scale per image and channel with a
    # residual (EfficientNet), a Concat's prefix copied in front with ShuffleNet's channel shuffle, split K summed
    # by the reduction launch and by the last work-group
    Case("fused_view_prologue_bn_relu", [(1, 20, 9, 11), (24, 12, 3, 3), (24,), (12,), (12,)],
         dict(kernel_shape=[3, 3], pads=[1] * 4, **_G, input_channels=[4, 16], prologue_activation="Relu",
              fused_inputs=["prologue_scale", "prologue_shift"]), consts=(1, 2, 3, 4)),
    Case("fused_se_scale_residual", [(2, 16, 7, 7), (24, 16, 1, 1), (24,), (2, 24, 7, 7), (2, 16, 1, 1)],
         dict(kernel_shape=[1, 1], pads=[0] * 4, **_G, residual=True, fused_inputs=["prologue_scale"]),
         consts=(1, 2)),
    Case("fused_prefix_shuffle_splitk_reduce", [(1, 64, 6, 6), (30, 64, 3, 3), (30,), (1, 40, 6, 6)],
         dict(kernel_shape=[3, 3], pads=[1] * 4, **_G, activation="Relu", fused_inputs=["prefix"],
              prefix_channels=[5, 35], shuffle_groups=2, kernel_variant="conv_gemm", tiling=[32, 32, 16, 4, 0]),
         consts=(1, 2)),
    Case("fused_max_pool_prologue_prefix", [(1, 12, 7, 9), (10, 12, 1, 1), (10,), (1, 6, 7, 9)],
         dict(kernel_shape=[1, 1], pads=[0] * 4, **_G, activation="Relu", prologue_max_pool=3,
              fused_inputs=["prefix"]), consts=(1, 2)),
    Case("fused_prefix_prologue_splitk_last", [(2, 48, 5, 6), (20, 48, 1, 1), None, (48,), (2, 33, 5, 6)],
         dict(kernel_shape=[1, 1], pads=[0] * 4, **_G, fused_inputs=["prologue_scale", "prefix"],
              kernel_variant="conv_gemm", tiling=[32, 32, 16, 3, 1]), consts=(1, 3)),
]
