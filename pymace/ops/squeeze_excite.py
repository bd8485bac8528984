"""SqueezeExcite (pymace's own op): a squeeze-excitation block's scale, s = gate(FC2(act(FC1(mean over H, W of x)))),
in one or two launches where the model spells it as five (GlobalAveragePool, Conv, activation, Conv with the gate,
each Conv often with a split-K reduction too).

A GPU plan makes it (passes/fuse_se.py) from EfficientNet's, MobileNetV3's and RegNetY's blocks; the block's
Mul(x, s) then becomes the next 1x1 conv's prologue (ops/conv_fusion.py), so the whole block costs the plan one or
two launches. Inputs: [x [N, C, H, W], W1 [R, C, 1, 1], B1 [R] or "", W2 [C, R, 1, 1], B2 [C] or ""], weights
constant. Attributes: `activation` / `activation_params` after FC1 (any fused activation but PRelu), `gate`
(Sigmoid or HardSigmoid) with `gate_params` (HardSigmoid's [alpha, beta]). Output: s [N, C, 1, 1].

Variants: "fused", one launch (se_fc) whose work-groups each take the channel means themselves (a work-item a
channel, so it suits small maps), and "pooled", the means first by many work-groups (se_pool). se_fc runs
ceil(C / its work-group size) work-groups per image, each doing all of FC1 and FC2 for its share of channels.
The default fuses when C·H·W <= FUSED_MAX_POOL and R·C <= FUSED_MAX_FC; `pymace tune` times both."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from . import activation as act
from . import kernel_args
from .base import Case, Const, Scratch, TensorInfo

OP_TYPES = ("SqueezeExcite",)
GATES = {"Sigmoid": 5, "HardSigmoid": 4}
FUSED_MAX_POOL = 16384  # channel x pixels that the fused variant's one work-group averages by default
FUSED_MAX_FC = 65536  # ... and FC weights (R x C)
WG_MAX = 256  # se_pool's and se_fc's work-group size at most (NVIDIA's limit for se_fc, by its registers, is lower
# than the device's 1024)


def _dims(x_shape, w1_shape, w2_shape) -> tuple[int, int, int, int]:
    """(N, C, R, H*W), checked."""
    if len(x_shape) != 4:
        raise ConvertError(f"SqueezeExcite takes an NCHW input, not {list(x_shape)}")
    n, c, h, w = x_shape
    r = w1_shape[0] if w1_shape else 0
    if tuple(w1_shape) not in ((r, c, 1, 1), (r, c)) or tuple(w2_shape) not in ((c, r, 1, 1), (c, r)) or r < 1:
        raise ConvertError(f"SqueezeExcite weights {list(w1_shape)} and {list(w2_shape)} for {c} channels")
    return n, c, r, h * w


def _check_attrs(activation, gate) -> None:
    if activation == "PRelu" or activation not in act.CODES:
        raise ConvertError(f"SqueezeExcite's activation {activation!r} is not one of "
                           f"{[a for a in act.FUSABLE if a != 'PRelu']}")
    if gate not in GATES:
        raise ConvertError(f"SqueezeExcite's gate {gate!r} is not one of {list(GATES)}")


def infer(x: TensorInfo, w1: TensorInfo, b1, w2: TensorInfo, b2=None, _op_type=None, activation=None,
          gate="Sigmoid", **_):
    _check_attrs(activation, gate)
    n, c, r, _ = _dims(x.shape, w1.shape, w2.shape)
    for name, b, size in (("B1", b1, r), ("B2", b2, c)):
        if b is not None and tuple(b.shape) != (size,):
            raise ConvertError(f"SqueezeExcite's {name} of shape {list(b.shape)} for {size} channels")
    return [((n, c, 1, 1), "float32")]


def reference(x, w1, b1, w2, b2=None, _op_type=None, activation=None, activation_params=(), gate="Sigmoid",  # noqa: PLR0913
              gate_params=(), **_):
    n, c, r, _ = _dims(x.shape, w1.shape, w2.shape)
    pooled = x.reshape(n, c, -1).mean(axis=2, dtype=np.float32)
    h = pooled @ w1.reshape(r, c).T + (b1 if b1 is not None else 0)
    h = act.reference(h.astype(np.float32), activation, activation_params)
    s = h @ w2.reshape(c, r).T + (b2 if b2 is not None else 0)
    return [act.reference(s.astype(np.float32), gate, gate_params).reshape(n, c, 1, 1)]


def variants(n: int, c: int, r: int, hw: int) -> tuple[dict, list[dict]]:
    """(the default variant, every variant): "fused" or "pooled" (the module docstring)."""
    fused, pooled = {"variant": "fused"}, {"variant": "pooled"}
    default = fused if c * hw <= FUSED_MAX_POOL and r * c <= FUSED_MAX_FC else pooled
    return default, [default, pooled if default is fused else fused]


def gate_options(gate: str, params=()) -> tuple[str, ...]:
    options = (f"-DGATE={GATES[gate]}",)
    if gate == "HardSigmoid":
        p = list(params or ())
        alpha, beta = (p + [0.2, 0.5][len(p):])[:2]
        options += (f"-DGATE_A={float(alpha)!r}f", f"-DGATE_B={float(beta)!r}f")
    return options


def launch(ctx, _op_type=None, activation=None, activation_params=(), gate="Sigmoid", gate_params=(),  # noqa: PLR0913
           kernel_variant=None, **_):
    x, w1, b1, w2 = ctx.inputs[:4]
    b2 = ctx.inputs[4] if len(ctx.inputs) > 4 else None
    _check_attrs(activation, gate)
    if any(t is not None and t.const is None for t in (w1, b1, w2, b2)):
        raise ConvertError(f"node {ctx.node.name!r}: SqueezeExcite needs constant weights")
    n, c, r, hw = _dims(x.shape, w1.shape, w2.shape)
    default, candidates = variants(n, c, r, hw)
    if kernel_variant:
        if kernel_variant not in ("fused", "pooled"):
            raise ConvertError(f"kernel_variant {kernel_variant!r} is not one of fused, pooled")
        chosen = {"variant": kernel_variant}
    else:
        chosen = ctx.choose(f"SqueezeExcite x={'x'.join(map(str, x.shape))} r={r}", default, candidates)
    wgs = 1 << (min(WG_MAX, ctx.device.max_work_group_size).bit_length() - 1)
    groups = -(-c // wgs)  # se_fc's work-groups per image
    fp32 = 2 if ctx.data_type == "fp16" else 1  # scratch is counted in storage elements; these hold floats
    fused = chosen["variant"] == "fused"
    pooled, hid = Scratch(n * c * (groups if fused else 1) * fp32), Scratch(n * groups * r * fp32)
    if not fused:
        lanes = min(wgs, max(32, 1 << max(0, (hw - 1).bit_length())))
        kernel_args.launch(ctx, "squeeze_excite", "se_pool", (wgs, -(-c // (wgs // lanes)), n),
                           dict(x=x, pooled=pooled, C=c, HW=hw), (f"-DWGS={wgs}", f"-DLANES={lanes}"),
                           lws=(wgs, 1, 1))
    zeros = {name: Const(np.zeros(size, np.float32)) for name, size in (("b1", r), ("b2", c))}
    values = dict(x=x, pooled=pooled, hid=hid, w1t=Const(np.ascontiguousarray(w1.const.reshape(r, c).T)),
                  b1=b1 if b1 is not None else zeros["b1"], w2t=Const(np.ascontiguousarray(w2.const.reshape(c, r).T)),
                  b2=b2 if b2 is not None else zeros["b2"], s=ctx.outputs[0], C=c, R=r, HW=hw)
    options = (f"-DWGS={wgs}", *act.build_options(activation, activation_params),
               *gate_options(gate, gate_params))
    options += ("-DSE_POOL=1",) if fused else ()
    kernel_args.launch(ctx, "squeeze_excite", "se_fc", (wgs * groups, n), values, options, lws=(wgs, 1))


def _case(name, x, r, consts=(1, 2, 3, 4), **attrs):
    c = x[1]
    return Case(name, [x, (r, c, 1, 1), (r,), (c, r, 1, 1), (c,)], attrs, consts=consts)


CASES = [  # shapes of EfficientNet-B0's, MobileNetV3's and RegNetY's blocks, both variants, off the work-group size
    _case("effnet_silu_fused", (1, 40, 14, 14), 10, activation="Silu", kernel_variant="fused"),
    _case("effnet_silu_pooled_wide_map", (2, 24, 33, 35), 6, activation="Silu", kernel_variant="pooled"),
    _case("mbv3_relu_hardsigmoid", (1, 72, 9, 9), 24, activation="Relu", gate="HardSigmoid",
          gate_params=[1 / 6, 0.5]),
    _case("many_channels_pooled", (1, 600, 5, 5), 300, activation="Relu", kernel_variant="pooled"),
    _case("effnet_last_block_pooled", (1, 1152, 7, 7), 48, activation="Silu", kernel_variant="pooled"),
    _case("two_groups_fused_batch2", (2, 1030, 2, 3), 8, activation="Silu", kernel_variant="fused"),
    Case("regnet_no_biases_fused", [(2, 300, 3, 3), (70, 300, 1, 1), None, (300, 70, 1, 1), None],
         dict(activation="Relu", kernel_variant="fused"), consts=(1, 3)),
]
