"""conv_gemm (kernels/conv_gemm.cl): a one-group conv as a tiled implicit GEMM through __local memory, the GPUs'
kernel, and conv_splitk_reduce, which sums the partial results of a K split. Also SeparableConv's fused kernel
(-DDW_FUSED: the GEMM of its 1x1 conv, whose B tile is the depthwise conv computed while it is loaded), and what
a GPU plan fuses around either (ops/conv_fusion.py: input view, prologue, output layout, prefix copy).

A tiling is TM output channels x TN pixels a work-group, K slices of TK through __local memory, and SPLIT ways
over K when a layer has too few tiles to fill the compute units; a split K is summed by a conv_splitk_reduce
launch, or with `last` by each tile's last work-group (-DSPLIT_LAST)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from . import kernel_args
from .base import Const, Counters, Scratch
from .conv_fusion import NO_FUSION, ConvFusion
from .conv_layer import ConvLayer, Epilogue

GEMM_MAX_TK = 32  # the longest K slice staged through __local memory per step (fewer for a shorter K)
GEMM_FILL = 2  # K is split until there are this many work-groups per compute unit (or K runs out)
GEMM_MIN_SLICES = 2  # ... keeping this many K slices per split at least (benchmarks/NOTES.md: at batch 1 a
# work-group's K loop is latency-bound, so more, shorter splits win)
# Whether a split K is summed by each tile's last work-group (`last`, -DSPLIT_LAST: no reduction launch) by default,
# and offered to the tuner beside the reduction launch. Its writers fence with write_mem_fence and its reader with
# read_mem_fence (CLK_GLOBAL_MEM_FENCE), on NVIDIA each followed by inline PTX membar.gl (device scope); it stays
# off until benchmarks/split_last_check.py has shown those fences in the H200's PTX and bit-exact sums there. Tests
# force it with the `tiling` attribute; PYMACE_SPLIT_LAST=1 turns it on for one run (benchmarks/gpu_sweep.py).
SPLIT_LAST = False
# ... except on NVIDIA (its fences backed by membar.gl) for a split of this many parts or fewer, where the last
# work-group's serial sum is short and a reduction launch is saved (benchmarks/NOTES.md)
LAST_MAX_SPLIT = 4


def split_last() -> bool:
    """Whether `last` is the default for a split K and offered to the tuner (SPLIT_LAST or PYMACE_SPLIT_LAST=1)."""
    from ..config import load

    return SPLIT_LAST or load().split_last



def split_last_options(device) -> tuple[str, ...]:
    """-DSPLIT_LAST, and on NVIDIA -DPTX_FENCE: the fences backed by inline PTX membar.gl (device scope)."""
    return ("-DSPLIT_LAST=1",) + (("-DPTX_FENCE",) if _nvidia(device) else ())


@dataclass(frozen=True)
class GemmTiling:
    """conv_gemm's tiling; `last` only with a split K."""

    tm: int
    tn: int
    tk: int
    split: int
    last: bool = False

    def __post_init__(self):
        object.__setattr__(self, "last", bool(self.last) and self.split > 1)

    def fields(self) -> dict:
        """The tiling as a variant choice's parameters; `last` is there only when set."""
        return {"tm": self.tm, "tn": self.tn, "tk": self.tk, "split": self.split} | ({"last": 1} if self.last else {})

    @classmethod
    def of(cls, fields: dict) -> GemmTiling:
        return cls(fields["tm"], fields["tn"], fields["tk"], fields["split"], bool(fields.get("last", 0)))


def gemm_tk(k: int) -> int:
    """The K slice: 16, or 32 when K is longer than 16 (GEMM_MAX_TK)."""
    tk = 16
    while tk < GEMM_MAX_TK and tk < k:
        tk *= 2
    return tk


def default_tiling(m: int, pixels: int, k: int, n: int, device) -> GemmTiling:
    """Tiles of 64x64 (32 along a dimension of 32 or less), K slices of gemm_tk, and K split (one more launch, or
    none with split_last()) while a layer has fewer than GEMM_FILL work-groups per compute unit, keeping
    GEMM_MIN_SLICES slices a split."""
    want = GEMM_FILL * device.compute_units
    tm, tn, tk = (64 if m > 32 else 32), (64 if pixels > 32 else 32), gemm_tk(k)
    tiles = n * -(-m // tm) * -(-pixels // tn)
    slices, split = -(-k // tk), 1
    while tiles * split < want and slices // (split * 2) >= GEMM_MIN_SLICES:
        split *= 2
    return GemmTiling(tm, tn, tk, split, sums_in_kernel(split, device))


def sums_in_kernel(split: int, device, most: int | None = None) -> bool:
    """Whether a K split into `split` parts is summed by each tile's last work-group by default: split_last(),
    or on NVIDIA a split of at most `most` (LAST_MAX_SPLIT) parts."""
    return split_last() or (split <= (LAST_MAX_SPLIT if most is None else most) and _nvidia(device))


def _nvidia(device) -> bool:
    return "nvidia" in getattr(device, "vendor", "").lower()


def tilings(m: int, pixels: int, k: int, n: int, device) -> list[GemmTiling]:
    """The tilings worth timing: 32/64 channels x 32/64 pixels, each with K split 1, 2, 4 … while a split keeps
    two K slices and at most 8 work-groups per compute unit."""
    found, most, tk = [], 8 * device.compute_units, gemm_tk(k)
    lasts = (True, False) if split_last() else (False,)
    for tm, tn in itertools.product((32, 64) if m > 32 else (32,), (32, 64) if pixels > 32 else (32,)):
        tiles, slices, split = n * -(-m // tm) * -(-pixels // tn), -(-k // tk), 1
        while split == 1 or (slices // split >= 2 and tiles * split <= most):
            found += [GemmTiling(tm, tn, tk, split, last) for last in (lasts if split > 1 else (False,))]
            split *= 2
    return found


def pack_weights(w2d: np.ndarray, tm: int, tk: int) -> np.ndarray:
    """[M, K] -> A[K_pad][M_pad], zero-padded to whole TK x TM tiles, so that tile loads need no checks."""
    m, k = w2d.shape
    out = np.zeros((-(-k // tk) * tk, -(-m // tm) * tm), np.float32)
    out[:k, :m] = w2d.T
    return out


@dataclass(frozen=True)
class FusedDepthwise:
    """SeparableConv's depthwise conv for -DDW_FUSED: weights [C, taps], bias [C], and its clamp's options; the
    layer then is the 1x1 conv over the depthwise conv's window."""

    weights: np.ndarray
    bias: np.ndarray
    options: tuple[str, ...]


def launch(ctx, layer: ConvLayer, x, weights, epilogue: Epilogue, tiling: GemmTiling,  # noqa: PLR0913
           depthwise: FusedDepthwise | None = None, fusion: ConvFusion = NO_FUSION) -> None:
    """conv_gemm for `layer` reading input buffer `x` (through `fusion`'s view and prologue; `layer` is the conv
    as it sees its input), then conv_splitk_reduce for a split K without `last`."""
    n, c, m, pixels, k = layer.n, layer.c, layer.m, layer.pixels, layer.reduction
    tm, tn, tk, split = tiling.tm, tiling.tn, tiling.tk, tiling.split
    a = pack_weights(weights.reshape(m, k), tm, tk)
    vectors = epilogue.args(m, lambda v: v.reshape(-1))
    part = Scratch((n * split * m * pixels if split > 1 else 1) * (2 if ctx.data_type == "fp16" else 1))
    values = dict(x=x, a=Const(a), **vectors, y=ctx.outputs[0], C=c, H=layer.x_shape[2],
                  W=layer.x_shape[3], M=m, MP=a.shape[1], OW=layer.out[1], P=pixels, K=k, KT=a.shape[0] // tk,
                  PT=layer.window.pads[0], PL=layer.window.pads[1])
    if split > 1:
        values["part"] = part
    if depthwise:
        values |= {"dww": Const(depthwise.weights), "dwb": Const(depthwise.bias)}
    if tiling.last:
        values["count"] = Counters(n * -(-m // tm) * -(-pixels // tn))
    fused_values, fused_options = fusion.kernel_values(getattr(x, "shape", None) or layer.x_shape, m)
    values |= fused_values
    options = layer.options() + epilogue.options() + (f"-DTM={tm}", f"-DTN={tn}", f"-DTK={tk}", f"-DSPLIT={split}")
    options += ("-DHAS_PART",) if split > 1 else ()
    options += (depthwise.options if depthwise else ()) + (split_last_options(ctx.device) if tiling.last else ())
    gws = (-(-pixels // tn) * tn // 4, -(-m // tm) * tm // 4, n * split)
    kernel_args.launch(ctx, "conv_gemm", "conv_gemm", gws, values, options + fused_options,
                       lws=(tn // 4, tm // 4, 1))
    if split > 1 and not tiling.last:  # the epilogue's options only: convs of any shape share the reduction
        kernel_args.launch(ctx, "conv_gemm", "conv_splitk_reduce", (pixels, n * m),
                           dict(part=part, **vectors, y=ctx.outputs[0], S=split, M=m, P=pixels, N=n,
                                **fusion.layout_values(m)), epilogue.options())
