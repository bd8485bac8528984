"""SeparableConv (pymace's own op): a depthwise conv whose output only a 1x1 conv reads, as one kernel.

The GPU planner makes it (passes/fuse_separable.py) from MobileNetV2's depthwise → projection pairs and
BlazeFace's depthwise → 1x1 pairs: on a GPU at batch 1 each launch costs the host ~8 µs, and the depthwise output
(the block's widest tensor) no longer goes through memory. The kernel is conv_gemm with -DDW_FUSED (conv.cl):
the 1x1 conv's GEMM, whose B tile is the depthwise conv computed while it is loaded.

Inputs: [x, depthwise W [C, 1, KH, KW], depthwise B or "", 1x1 W [M, C, 1, 1], then as Conv's after W: B or "",
R (with `residual`), PRelu slope]. Attributes: the depthwise conv's kernel_shape, strides, pads (explicit),
dilations and `dw_activation` (None, Relu or Clip) with `dw_activation_params`; the 1x1 conv's `activation`,
`activation_params` and `residual` (docs/ir.md)."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from . import activation as act
from . import conv, conv_direct, conv_gemm, conv_variants
from .base import Case, Scratch, TensorInfo
from .conv_fusion import ConvFusion
from .conv_gemm import GemmTiling
from .conv_layer import ConvLayer, Epilogue
from .conv_variants import Variant
from .geometry import Window, conv_window

OP_TYPES = ("SeparableConv",)
DW_ACTIVATIONS = (None, "Relu", "Clip")  # what the fused kernel applies to the depthwise output (a clamp)


def _fusion(rest, attrs) -> tuple[list, ConvFusion]:
    rest, fusion = ConvFusion.split(rest, attrs)
    if fusion.prologue or fusion.max_pool is not None:
        raise ConvertError("SeparableConv takes no prologue (ops/conv_fusion.py)")
    return rest, fusion


def infer(x: TensorInfo, dw_w: TensorInfo, dw_b, pw_w: TensorInfo, *rest, _op_type="SeparableConv", **attrs):
    rest, fusion = _fusion(rest, attrs)
    x_shape = fusion.x_shape(x.shape)
    geo = {a: attrs.get(a) for a in ("kernel_shape", "strides", "pads", "dilations")}
    c = x_shape[1] if len(x_shape) > 1 else 0
    out = conv_window(x_shape, dw_w.shape, c, **geo).out
    if dw_w.shape[0] != c:
        raise ConvertError(f"depthwise weights of shape {list(dw_w.shape)} for {c} channels")
    if tuple(pw_w.shape[1:]) != (c, 1, 1):
        raise ConvertError(f"1x1 weights of shape {list(pw_w.shape)} for {c} channels")
    return [(fusion.out_shape((x_shape[0], pw_w.shape[0], *out)), "float32")]


def reference(x, dw_w, dw_b, pw_w, *rest, _op_type="SeparableConv", kernel_shape=None, strides=None, pads=None,  # noqa: PLR0913
              dilations=None, dw_activation=None, dw_activation_params=(), activation=None, activation_params=(),
              residual=False, **attrs):
    rest, fusion = _fusion(rest, attrs)
    x = fusion.reference_input(x)
    dw_inputs = [dw_b] if dw_b is not None else []
    [mid] = conv.reference(x, dw_w, *dw_inputs, kernel_shape=kernel_shape, strides=strides, pads=pads,
                           dilations=dilations, group=x.shape[1], activation=dw_activation,
                           activation_params=dw_activation_params)
    [y] = conv.reference(mid, pw_w, *rest, kernel_shape=[1, 1], activation=activation,
                         activation_params=activation_params, residual=residual)
    return [fusion.reference_output(y)]


def clamp_options(activation: str | None, params=()) -> tuple[str, ...]:
    """The depthwise activation as conv.cl's clamp bounds DW_LO / DW_HI (absent: unbounded)."""
    if activation not in DW_ACTIVATIONS:
        raise ConvertError(f"SeparableConv fuses a depthwise activation of {DW_ACTIVATIONS[1:]} only, "
                           f"not {activation!r}")
    if activation == "Relu":
        return ("-DDW_LO=0.0f",)
    if activation == "Clip":
        lo, hi = act.clip_bounds(params)
        return (*((f"-DDW_LO={act.c_float(lo)}",) if lo is not None else ()),
                *((f"-DDW_HI={act.c_float(hi)}",) if hi is not None else ()))
    return ()


FUSE_MAX_PIXELS = 256  # maps this small are fused by default, whatever their channels (see variants)
FUSE_MAX_WORK = 512  # … and larger maps when channels x depthwise taps is at most this
FUSED_MAX_SPLIT = 8
FUSED_LAST_MAX_SPLIT = conv_gemm.LAST_MAX_SPLIT  # splits summed in-kernel on NVIDIA (conv_gemm.sums_in_kernel)


def fused_tiling(m: int, pixels: int, c: int, n: int, device) -> GemmTiling:
    """The fused kernel's tiling. Each work-group also computes its K slice of the depthwise output, so K is
    split more than for a plain conv (conv_gemm.default_tiling): down to 4 slices a split, up to 8 splits, while
    the work-groups stay within one per compute unit; 32-pixel tiles make more work-groups (benchmarks/NOTES.md)."""
    tm, tn, tk = (64 if m > 32 else 32), 32, conv_gemm.gemm_tk(c)
    tiles, slices, split = n * -(-m // tm) * -(-pixels // tn), -(-c // tk), 1
    while split < FUSED_MAX_SPLIT and slices >= 4 * split and tiles * split * 2 <= device.compute_units:
        split *= 2
    return GemmTiling(tm, tn, tk, split, conv_gemm.sums_in_kernel(split, device, FUSED_LAST_MAX_SPLIT))


def variants(dw: ConvLayer, m: int, device) -> tuple[Variant, list[Variant]]:
    """(the default variant, every variant worth timing) for the depthwise conv `dw` followed by a 1x1 conv to
    `m` channels: conv_gemm with the depthwise conv fused (-DDW_FUSED) over conv_gemm's tilings, and "separate",
    the depthwise kernel into a scratch buffer, then conv_gemm. Fusing saves a launch but puts the depthwise
    work on the 1x1 conv's work-groups, which on a large map with many channels is slower than two launches
    (benchmarks/NOTES.md). The default fuses small maps (FUSE_MAX_PIXELS) and narrow depthwise convs
    (FUSE_MAX_WORK); `pymace tune` measures every variant."""
    n, c, pixels = dw.n, dw.c, dw.pixels
    fused = Variant("conv_gemm", tiling=fused_tiling(m, pixels, c, n, device))
    separate = Variant("separate", conv_variants.pixels_per_item(dw, "conv_depthwise", device))
    default = fused if pixels <= FUSE_MAX_PIXELS or c * dw.w_shape[2] * dw.w_shape[3] <= FUSE_MAX_WORK else separate
    tiled = [Variant("conv_gemm", tiling=t) for t in conv_gemm.tilings(m, pixels, c, n, device)]
    return default, list(dict.fromkeys([default, fused, *tiled, separate]))


def choice_key(dw: ConvLayer, m: int, residual: bool) -> str:
    w = dw.window
    dims = lambda v: "x".join(map(str, v))  # noqa: E731
    return (f"SeparableConv x={dims(dw.x_shape)} dw={dims(dw.w_shape[2:])} m={m} s={dims(w.strides)} "
            f"p={','.join(map(str, w.pads))} d={dims(w.dilations)}{' res' if residual else ''}")


def launch(ctx, *, _op_type="SeparableConv", kernel_shape=None, strides=None, pads=None, dilations=None,  # noqa: PLR0913
           dw_activation=None, dw_activation_params=(), activation=None, activation_params=(), residual=False,
           kernel_variant=None, tiling=None, **attrs):
    x, dw_w, dw_b, pw_w = ctx.inputs[:4]
    if len(x.shape) != 4 or dw_w.const is None or pw_w.const is None or (dw_b is not None and dw_b.const is None):
        raise ConvertError(f"node {ctx.node.name!r}: SeparableConv needs a 2-D input and constant weights")
    rest, fusion = _fusion(ctx.inputs[4:], attrs)
    x_shape = fusion.x_shape(x.shape)
    (n, c), m = x_shape[:2], pw_w.shape[0]
    if dw_w.shape[:2] != (c, 1) or pw_w.shape[1:] != (c, 1, 1):
        raise ConvertError(f"node {ctx.node.name!r}: SeparableConv weights {dw_w.shape} and {pw_w.shape} do not "
                           f"fit {c} channels")
    window = conv_window(x_shape, dw_w.shape, c, kernel_shape, strides, pads, dilations)
    dw = ConvLayer(x_shape, tuple(dw_w.shape), c, window)
    epilogue = Epilogue.of(ctx, rest, activation, activation_params, residual)
    chosen = _choose(ctx, dw, m, (kernel_variant, tiling), epilogue, fusion)
    if chosen.kernel == "separate":  # the two convs as two launches, the depthwise output in a scratch buffer
        mid = Scratch(n * c * window.out[0] * window.out[1])
        dw_epilogue = Epilogue(dw_b, activation=dw_activation, activation_params=tuple(dw_activation_params or ()))
        conv_direct.launch_depthwise(ctx, dw, x, dw_w.const, dw_epilogue, chosen.px, y=mid)
        one = Window((1, 1), (1, 1), (0,) * 4, (1, 1), window.out)  # the 1x1 conv, over the scratch buffer
        pw = ConvLayer((n, c, *window.out), tuple(pw_w.shape), 1, one)
        tiling = conv_gemm.default_tiling(m, pw.pixels, pw.reduction, n, ctx.device)
        conv_gemm.launch(ctx, pw, mid, pw_w.const, epilogue, tiling, fusion=fusion)
        return
    dw_bias = dw_b.const.reshape(c) if dw_b is not None else np.zeros(c, np.float32)
    fused = conv_gemm.FusedDepthwise(np.ascontiguousarray(dw_w.const.reshape(c, -1), np.float32),
                                     np.asarray(dw_bias, np.float32),
                                     ("-DDW_FUSED=1", *clamp_options(dw_activation, dw_activation_params)))
    # the 1x1 conv's GEMM over the depthwise conv's window: its B tile is the depthwise output
    conv_gemm.launch(ctx, ConvLayer(x_shape, tuple(pw_w.shape), 1, window), x, pw_w.const, epilogue,
                     chosen.tiling, fused, fusion)


def _choose(ctx, dw: ConvLayer, m: int, forced: tuple, epilogue: Epilogue, fusion: ConvFusion) -> Variant:
    """The variant a node runs: forced (tests: "separate", or "conv_gemm" fused, fused_tiling's or `tiling`'s),
    else the default or a tuned one. With an input view only the fused kernel reads it (not "separate")."""
    kernel_variant, tiling = forced
    default, candidates = variants(dw, m, ctx.device)
    if fusion.input_channels is not None:
        candidates = [v for v in candidates if v.kernel != "separate"]
        default = default if default.kernel != "separate" else candidates[0]
    if kernel_variant:
        chosen = next((v for v in candidates if v.kernel == kernel_variant), None)
        if chosen is None:
            raise ConvertError(f"kernel_variant {kernel_variant!r} is not one of "
                               f"{', '.join(sorted({v.kernel for v in candidates}))}")
        return Variant("conv_gemm", tiling=GemmTiling(*tiling)) if tiling and chosen.tiling else chosen
    key = choice_key(dw, m, epilogue.residual is not None) + (" fused" if fusion.active else "")
    return Variant.of(ctx.choose(key, default.choice(), [v.choice() for v in candidates]))

def _case(name, x, c_out, k=3, s=1, pads=1, residual=False, **attrs):
    c = x[1]
    inputs = [x, (c, 1, k, k), (c,), (c_out, c, 1, 1), (c_out,)]
    consts = [1, 2, 3, 4]
    if residual:
        inputs.append((x[0], c_out, (x[2] + 2 * pads - k) // s + 1, (x[3] + 2 * pads - k) // s + 1))
        attrs["residual"] = True
    geometry = dict(kernel_shape=[k, k], strides=[s, s], pads=[pads] * 4, dilations=[1, 1])
    return Case(name, inputs, geometry | attrs, consts=tuple(sorted(consts)))


CASES = [
    # MobileNetV2's blocks: ReLU6 after the depthwise conv, a linear projection, with and without the residual
    _case("mbv2_project", (1, 24, 14, 14), 16, dw_activation="Clip", dw_activation_params=[0.0, 6.0]),
    _case("mbv2_project_residual", (1, 36, 9, 11), 36, residual=True, dw_activation="Clip",
          dw_activation_params=[0.0, 6.0]),
    # stride 2 with asymmetric (TF-style) pads, no depthwise bias, ReLU on both, batch 2, channels off the tiles
    Case("s2_asym_relu", [(2, 20, 15, 17), (20, 1, 3, 3), None, (30, 20, 1, 1), (30,)],
         dict(kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1], dilations=[1, 1], dw_activation="Relu",
              activation="Relu"), consts=(1, 3, 4)),
    # BlazeFace's blocks: a linear 5x5 depthwise conv, a 1x1 conv, the residual, then ReLU
    _case("blaze_5x5_residual_relu", (1, 28, 16, 16), 28, k=5, pads=2, residual=True, activation="Relu"),
    # dilation, no 1x1 bias, PRelu after the 1x1 conv
    Case("dilated_prelu", [(1, 12, 13, 13), (12, 1, 3, 3), (12,), (10, 12, 1, 1), None,
                           np.linspace(-0.5, 0.5, 10, dtype=np.float32)],
         dict(kernel_shape=[3, 3], strides=[1, 1], pads=[2] * 4, dilations=[2, 2], activation="PRelu"),
         consts=(1, 2, 3, 5)),
    # K = 1100 channels split 8 ways and summed by each tile's last work-group (-DSPLIT_LAST), 64x32 tiles, 60
    # channels: a partial tile; then a split summed by the reduction launch
    _case("splitk_wide_last", (1, 1100, 6, 6), 60, dw_activation="Clip", dw_activation_params=[0.0, 6.0],
          activation="HardSwish", kernel_variant="conv_gemm", tiling=[64, 32, 32, 8, 1]),
    _case("splitk_residual_5x5_reduce_launch", (1, 160, 7, 7), 160, k=5, pads=2, residual=True,
          kernel_variant="conv_gemm", tiling=[32, 64, 32, 2, 0]),
    # the "separate" variant: the depthwise kernel into a scratch buffer, then conv_gemm
    _case("separate_mbv2_residual", (1, 36, 9, 11), 36, residual=True, dw_activation="Clip",
          dw_activation_params=[0.0, 6.0], kernel_variant="separate"),
    Case("separate_s2_asym_prelu", [(2, 20, 15, 17), (20, 1, 3, 3), None, (30, 20, 1, 1), (30,),
                                    np.linspace(-0.5, 0.5, 30, dtype=np.float32)],
         dict(kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1], dilations=[1, 1], dw_activation="Relu",
              activation="PRelu", kernel_variant="separate"), consts=(1, 3, 4, 5)),
    _case("separate_wide", (1, 600, 7, 7), 40, dw_activation="Clip", dw_activation_params=[0.0, 6.0]),
    # a GPU plan's fusions (ops/conv_fusion.py): ShuffleNet's units, a Concat's prefix and the channel shuffle in
    # the output, the input a channel slice of the previous unit's output
    Case("fused_prefix_shuffle", [(1, 24, 10, 10), (24, 1, 3, 3), (24,), (24, 24, 1, 1), (24,), (1, 24, 10, 10)],
         dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1] * 4, dilations=[1, 1], activation="Relu",
              fused_inputs=["prefix"], shuffle_groups=2), consts=(1, 2, 3, 4)),
    Case("fused_view_s2_prefix_shuffle", [(1, 24, 11, 11), (12, 1, 3, 3), None, (16, 12, 1, 1), (16,),
                                          (1, 16, 6, 6)],
         dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4, dilations=[1, 1], input_channels=[8, 20],
              fused_inputs=["prefix"], shuffle_groups=4), consts=(1, 3, 4)),
    Case("fused_prefix_separate", [(2, 20, 7, 7), (20, 1, 3, 3), (20,), (30, 20, 1, 1), None, (2, 10, 7, 7)],
         dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1] * 4, dilations=[1, 1], fused_inputs=["prefix"],
              shuffle_groups=2, kernel_variant="separate"), consts=(1, 2, 3)),
]

