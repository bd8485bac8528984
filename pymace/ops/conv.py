"""Conv: NumPy reference (N-d, grouped, dilated, ONNX auto_pad) and four OpenCL variants for 2-D NCHW.

`choose_variant` picks per node: a depthwise kernel; on GPUs, for every other one-group conv, `conv_gemm`, a
tiled implicit GEMM through __local memory (split over K when a batch-1 layer has too few tiles to fill the
compute units, the splits summed by each tile's last work-group or by a reduction launch); on CPUs (PoCL
vectorises across work-items and __local memory is plain memory) a register-blocked 1×1 GEMM, or a direct conv
blocked over 4 output channels; those work-items compute `px` adjacent output pixels (fewer on a big GPU when the
layer is small). The node attributes `kernel_variant` and, for conv_gemm, `tiling` [TM, TN, TK, SPLIT(, last)]
(pymace's own) force a kernel, so that the tests run every variant on every device."""
from __future__ import annotations

import itertools

import numpy as np

from ..errors import ConvertError
from . import activation as act
from .base import Case, Const, Counters, Scratch, TensorInfo
from .geometry import conv_window

OP_TYPES = ("Conv",)


def split_inputs(rest, activation, residual=False):
    """(bias, residual, slope) from the inputs after x and W: [B | "", R (when `residual`), slope (PRelu)].
    PRelu's slope is always the last input; without a residual the bias may be left out before it."""
    slope = rest[-1] if activation == "PRelu" else None
    rest = rest[:-1] if activation == "PRelu" else rest
    bias = rest[0] if rest else None
    res = rest[1] if residual else None
    return bias, res, slope


def conv_geometry(x_shape, w_shape, kernel_shape=None, strides=None, pads=None, dilations=None,
                  auto_pad="NOTSET", group=1):
    """(kernel, strides, pads [begins..., ends...], dilations, output spatial shape) with ONNX defaults."""
    w = conv_window(x_shape, w_shape, group, kernel_shape, strides, pads, dilations, auto_pad)
    return list(w.kernel), list(w.strides), list(w.pads), list(w.dilations), list(w.out)


def infer(x: TensorInfo, w: TensorInfo, *rest, _op_type="Conv", group=1, activation=None, residual=False,
          **attrs):
    geo = {a: attrs.get(a) for a in ("kernel_shape", "strides", "pads", "dilations")}
    out = conv_window(x.shape, w.shape, group, auto_pad=attrs.get("auto_pad", "NOTSET"), **geo).out
    bias, res, _ = split_inputs(rest, activation, residual)
    if bias is not None and tuple(bias.shape) != (w.shape[0],):
        raise ConvertError(f"bias of shape {list(bias.shape)} for {w.shape[0]} output channels")
    y = (x.shape[0], w.shape[0], *out)
    if res is not None and tuple(res.shape) != y:
        raise ConvertError(f"residual of shape {list(res.shape)} for an output of shape {list(y)}")
    return [(y, "float32")]


def reference(x, w, *rest, _op_type="Conv", kernel_shape=None, strides=None, pads=None, dilations=None,
              group=1, auto_pad="NOTSET", activation=None, activation_params=(), residual=False, **_):
    b, res, slope = split_inputs(rest, activation, residual)
    k, s, p, d, out = conv_geometry(x.shape, w.shape, kernel_shape, strides, pads, dilations, auto_pad, group)
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
    return [act.reference(y.astype(np.float32), activation, activation_params, slope)]


# ---- host side of the OpenCL kernels ----

def pack_blocks(w2d: np.ndarray, group: int, block: int = 4) -> np.ndarray:
    """[M, R] per-output-channel rows -> [G, ceil(Mg/block), R, block], zero-padded: one LOAD4 gives 4 channels
    (block 4); the CPU kernels read `block` consecutive channel weights of one tap."""
    m, r = w2d.shape
    mg = m // group
    mbg = -(-mg // block)
    out = np.zeros((group, mbg * block, r), np.float32)
    out[:, :mg] = w2d.reshape(group, mg, r)
    return np.ascontiguousarray(out.reshape(group, mbg, block, r).transpose(0, 1, 3, 2))


def channel_vectors(ctx, bias_ref, slope_ref, m: int, pack):
    """Bias and PRelu slope as Consts laid out by `pack` (a [M, 1] -> layout function); zeros when absent."""
    bias = bias_ref.const if bias_ref is not None else np.zeros(m, np.float32)
    if slope_ref is not None and slope_ref.const is None:
        raise ConvertError(f"node {ctx.node.name!r}: a fused PRelu slope must be a constant")
    slope = np.broadcast_to(slope_ref.const.reshape(-1), (m,)) if slope_ref is not None else np.zeros(m)
    return [Const(pack(np.asarray(v, np.float32).reshape(m, 1))) for v in (bias, slope)]


GEMM_MAX_TK = 32  # K slice of conv_gemm staged through __local memory per step (fewer for a shorter K)
GEMM_FILL = 2  # conv_gemm splits K until there are this many work-groups per compute unit (or K runs out)
GEMM_MIN_SLICES = 8  # ... but keeps at least this many K slices per split
GEMM_SMALL_TILES = False  # 32x32 tiles for layers with fewer 64x64 tiles than GEMM_FILL work-groups per CU


CPU_VW = 16  # conv1x1_cpu: pixels a vector (one AVX-512 register)
CPU_MB = 16  # output channels a work-item of conv_rows_cpu and conv_direct_cpu
CPU_1X1_MB, CPU_1X1_PB = 12, 2  # conv1x1_cpu: channels x pixel vectors in registers (vs 16 x 1: ~17 % faster)
CPU_WORK = 512  # conv1x1_cpu: input channels x pixel blocks a work-item at least (a work-group costs ~0.1 µs)


CPU_ROWS_MAX = 8192  # floats of input rows that conv_rows_cpu stages in private memory (32 KiB)
CPU_ROWS = 16  # output rows a work-item of conv_rows_cpu at most (fewer work-groups, fewer copies of a row)


def cpu_vector_width(out_w: int) -> int:
    """conv_direct_cpu's and conv_rows_cpu's pixels a vector: the widest of 16, 8, 4 that a row fills."""
    return 16 if out_w >= 16 else 8 if out_w >= 8 else 4


def rows_per_item(cg: int, k, s, d, bufw: int) -> int:
    """conv_rows_cpu's ROWS: the most output rows (CPU_ROWS, halving) whose input rows fit CPU_ROWS_MAX; 0: none."""
    rows = CPU_ROWS
    while rows and cg * ((rows - 1) * s[0] + (k[0] - 1) * d[0] + 1) * bufw > CPU_ROWS_MAX:
        rows //= 2
    return rows


def row_buffer(w: int, k, s, p, out_hw, d=(1, 1)) -> int:
    """conv_rows_cpu's BUFW: a zero-padded input row, long enough for every vector load of a row's blocks,
    rounded up to a power of two (>= 16) so that layers of similar width share a program."""
    need = max(p[1] + w, s[1] * max(out_hw[1], cpu_vector_width(out_hw[1])) + (k[1] - 1) * d[1])
    return max(16, 1 << (need - 1).bit_length())


def choose_variant(x_shape, w_shape, group, k, s, p, out_hw, device, forced=None) -> tuple[str, int]:
    """(kernel name, output pixels per work-item) for one Conv node. `forced` (the node's pymace attribute
    `kernel_variant`, for tests and experiments) names the kernel instead."""
    n, c, m = x_shape[0], x_shape[1], w_shape[0]
    is_gpu = getattr(device, "is_gpu", False)
    is_1x1 = group == 1 and k == [1, 1] and s == [1, 1] and not any(p)
    if forced:
        name = forced
    elif not is_gpu:  # PoCL: explicit vectors (see conv.cl); tiny maps keep the 4x4-blocked conv1x1
        pixels = out_hw[0] * out_hw[1]
        if is_1x1:
            name = "conv1x1_cpu" if pixels >= CPU_VW else "conv1x1"
        else:  # the staged rows must fit in private memory
            fits = rows_per_item(c // group, k, s, [1, 1], row_buffer(x_shape[3], k, s, p, out_hw))
            name = "conv_rows_cpu" if fits else "conv_direct_cpu"
    elif group == c == m:
        name = "conv_depthwise"
    elif group == 1:  # the tiled implicit GEMM: data reuse through __local memory
        name = "conv_gemm"
    else:
        name = "conv_direct"
    channel_blocks = m if name == "conv_depthwise" else group * -(-(m // group) // 4)
    px = 8  # on PoCL (CPU) 8 pixels a work-item ran depthwise 3x faster than 1, 2 or 4 (MobileNetV2 layers)
    if is_gpu:  # fill the GPU: ~1024 work-items per compute unit, else fewer pixels
        px = 4
        want = 1024 * getattr(device, "compute_units", 1)
        while px > 1 and n * out_hw[0] * -(-out_hw[1] // px) * channel_blocks < want:
            px //= 2
        if name == "conv1x1" and px < 4:  # conv1x1 tiles 4 pixels; the direct kernel takes any px
            name = "conv_direct"
    return name, px


def gemm_tk(k: int) -> int:
    """conv_gemm's K slice: 16, or 32 when K is longer than 16 (GEMM_MAX_TK)."""
    tk = 16
    while tk < GEMM_MAX_TK and tk < k:
        tk *= 2
    return tk


def gemm_tiling(m: int, pixels: int, k: int, n: int, device) -> tuple[int, int, int, int]:
    """(TM, TN, TK, SPLIT) for conv_gemm. Tiles are 64x64 (32 along a dimension of 32 or less); TK = 32 (a
    64x64x32 slice took ~2 µs on the H100 with one or two work-groups per compute unit: 64 was no faster per k
    and left fewer work-groups after splitting). K is split (one more launch, ~9 µs of host time) when a layer
    has too few tiles (7x7 and 14x14 maps), keeping at least GEMM_MIN_SLICES slices per split."""
    want = GEMM_FILL * getattr(device, "compute_units", 1)
    tm, tn = (64 if m > 32 else 32), (64 if pixels > 32 else 32)
    if GEMM_SMALL_TILES and n * -(-m // tm) * -(-pixels // tn) < want:  # a small layer: 4x the work-groups
        tm, tn = 32, 32
    tk = gemm_tk(k)
    tiles = n * -(-m // tm) * -(-pixels // tn)
    slices, split = -(-k // tk), 1
    while tiles * split < want and slices // (split * 2) >= GEMM_MIN_SLICES:
        split *= 2
    return tm, tn, tk, split


# A split K is summed by a conv_splitk_reduce launch. -DSPLIT_LAST (each tile's last work-group sums its splits:
# one launch fewer) is only forced in tests for now: under OpenCL 1.2 nothing guarantees that one work-group's
# stores are visible to another that saw the atomic count (mem_fence orders a work-item's own accesses), so until
# the PTX NVIDIA's compiler emits is checked for a device-wide fence it is not offered (benchmarks/NOTES.md).
SPLIT_LAST_OFFERED = False


def gemm_choice(tm: int, tn: int, tk: int, split: int, last: int = 0) -> dict:
    """A conv_gemm variant: tiles, K slice, K split and, with `last` 1 (a split K only), the splits summed by each
    tile's last work-group instead of a conv_splitk_reduce launch. `last` 0 is left out of the dict, as in the
    tuning files written before it existed."""
    choice = {"variant": "conv_gemm", "tm": tm, "tn": tn, "tk": tk, "split": split}
    return choice | {"last": 1} if split > 1 and last else choice


def gemm_variants(m: int, pixels: int, k: int, n: int, device) -> list[dict]:
    """conv_gemm's tilings worth timing: 32/64 channels x 32/64 pixels, each with K split 1, 2, 4 … while a
    split keeps two K slices and at most 8 work-groups per compute unit."""
    found, most, tk = [], 8 * getattr(device, "compute_units", 1), gemm_tk(k)
    lasts = (0, 1) if SPLIT_LAST_OFFERED else (0,)
    for tm, tn in itertools.product((32, 64) if m > 32 else (32,), (32, 64) if pixels > 32 else (32,)):
        tiles, slices, split = n * -(-m // tm) * -(-pixels // tn), -(-k // tk), 1
        while split == 1 or (slices // split >= 2 and tiles * split <= most):
            found += [gemm_choice(tm, tn, tk, split, last) for last in (lasts if split > 1 else (0,))]
            split *= 2
    return found


def gemm_params(choice: dict) -> tuple[tuple[int, int, int, int], bool]:
    """(tiling, last) of a conv_gemm variant, for launch_gemm."""
    return tuple(choice[f] for f in ("tm", "tn", "tk", "split")), bool(choice.get("last", 0))


def variant_key(x_shape, w_shape, group, s, p, d, residual) -> str:
    """What a Conv's best variant depends on: shapes and geometry (not the activation: every variant fuses it
    the same way). The runtime appends the data type."""
    dims = lambda v: "x".join(map(str, v))  # noqa: E731
    return (f"Conv x={dims(x_shape)} w={dims(w_shape)} g={group} s={dims(s)} p={','.join(map(str, p))} "
            f"d={dims(d)}{' res' if residual else ''}")


def variants(x_shape, w_shape, group, k, s, p, out_hw, device) -> tuple[dict, list[dict]]:
    """(the heuristic's variant, every variant worth timing) for a Conv node, each {"variant": kernel, params}:
    on GPUs conv_gemm over tile shapes (32/64 channels x 32/64 pixels) and K splits (while the split leaves two
    K slices and at most 8 work-groups per compute unit), the depthwise kernel over pixels per work-item, and the
    direct kernels; on CPUs the explicit-vector kernels and the portable ones. `pymace tune` picks per node."""
    n, c, m = x_shape[0], x_shape[1], w_shape[0]
    name, px = choose_variant(x_shape, w_shape, group, k, s, p, out_hw, device)
    pixels, kk = out_hw[0] * out_hw[1], c // group * k[0] * k[1]
    if name == "conv_gemm":
        default = gemm_choice(*gemm_tiling(m, pixels, kk, n, device))
    else:  # conv1x1 always tiles 4 pixels and the CPU kernels set their own blocks: px only where it is read
        default = {"variant": name, "px": px} if name in ("conv_depthwise", "conv_direct") else {"variant": name}
    found = [default]
    if getattr(device, "is_gpu", False):
        if name == "conv_depthwise":
            found += [{"variant": name, "px": v} for v in (1, 2, 4, 8)]
        elif group == 1:
            found += gemm_variants(m, pixels, kk, n, device)
            found.append({"variant": "conv_direct", "px": px})
        else:
            found += [{"variant": "conv_direct", "px": v} for v in (1, 2, 4)]
    else:
        is_1x1 = group == 1 and k == [1, 1] and s == [1, 1] and not any(p)
        if is_1x1:
            found.append({"variant": "conv1x1"})
        elif name == "conv_rows_cpu":
            found.append({"variant": "conv_direct_cpu"})
        found.append({"variant": "conv_direct", "px": px})
    return default, distinct(found)


def distinct(variants: list[dict]) -> list[dict]:
    """The variants without repeats, in their first order (dicts are not hashable)."""
    unique = []
    for v in variants:
        if v not in unique:
            unique.append(v)
    return unique


def pack_gemm_weights(w2d: np.ndarray, tm: int, tk: int) -> np.ndarray:
    """[M, K] -> A[K_pad][M_pad], zero-padded to whole TK x TM tiles, so conv_gemm's tile loads need no checks."""
    m, k = w2d.shape
    out = np.zeros((-(-k // tk) * tk, -(-m // tm) * tm), np.float32)
    out[:k, :m] = w2d.T
    return out


def launch_gemm(ctx, x, w, bias, slope, res, out, opts, tiling=None, depthwise=None, source=None, last=False):
    """conv_gemm for a one-group conv; `tiling` (TM, TN, TK, SPLIT) from the node's variant, else gemm_tiling's.
    A split K is summed by each tile's last work-group (`last`) or by a conv_splitk_reduce launch. `depthwise`
    (weights [C, taps], bias [C], build options): `w` is a 1x1 conv whose input is that depthwise conv of `x`
    (SeparableConv; -DDW_FUSED in conv.cl), and `opts` hold the depthwise conv's geometry. `source`: the buffer
    to read (a Scratch of x's shape) instead of x."""
    (n, c, h, wd), m = x.shape, w.shape[0]
    pixels, k = out[0] * out[1], c * w.shape[2] * w.shape[3]
    tm, tn, tk, split = tiling or gemm_tiling(m, pixels, k, n, ctx.device)
    a = pack_gemm_weights(w.const.reshape(m, k), tm, tk)
    dw_args = [Const(depthwise[0]), Const(depthwise[1])] if depthwise else []
    wb, sb = channel_vectors(ctx, bias, slope, m, lambda v: v.reshape(-1))
    y = ctx.outputs[0]
    part_size = n * split * m * pixels if split > 1 else 1
    part = Scratch(part_size * (2 if ctx.data_type == "fp16" else 1))  # fp32 partials in storage-typed slots
    i32 = np.int32
    last = split > 1 and last
    counts = [Counters(n * -(-m // tm) * -(-pixels // tn))] if last else []
    args = [x if source is None else source, *dw_args, Const(a), wb, sb, *res, y, part, *counts,
            *map(i32, (c, h, wd, m, a.shape[1], out[1], pixels, k, a.shape[0] // tk, opts["pads"][0],
                       opts["pads"][1]))]
    gws = (-(-pixels // tn) * tn // 4, -(-m // tm) * tm // 4, n * split)
    options = opts["build"] + (f"-DTM={tm}", f"-DTN={tn}", f"-DTK={tk}", f"-DSPLIT={split}")
    options += (depthwise[2] if depthwise else ()) + (("-DSPLIT_LAST=1",) if last else ())
    ctx.kernel("conv", "conv_gemm", gws, args, options=options, lws=(tn // 4, tm // 4, 1))
    if split > 1 and not last:
        epilogue = tuple(o for o in opts["build"] if o.startswith(("-DACT", "-DHAS_RES")))  # not the geometry:
        ctx.kernel("conv", "conv_splitk_reduce", (pixels, n * m),  # convs of any shape share the reduction
                   [part, wb, sb, *res, y, *map(i32, (split, m, pixels, n))], options=epilogue)


def launch_depthwise(ctx, x, w, bias, slope, res, out, pads, px, opts, y=None):
    """conv_depthwise: PX output pixels of one channel a work-item; into `y` (a Scratch) instead of the node's
    output when given."""
    (n, c, h, wd), m, i32 = x.shape, w.shape[0], np.int32
    wb, sb = channel_vectors(ctx, bias, slope, m, lambda v: v.reshape(-1))
    args = [x, Const(w.const.reshape(m, -1)), wb, sb, *res, ctx.outputs[0] if y is None else y,
            *map(i32, (n, c, h, wd, out[0], out[1], pads[0], pads[1]))]
    ctx.kernel("conv", "conv_depthwise", (-(-out[1] // px), out[0], n * c), args, options=opts + (f"-DPX={px}",))


def launch_cpu(ctx, name, x, w, bias, slope, res, out, group, opts, pads, k, s, d):
    """conv1x1_cpu or conv_direct_cpu: MB channels x VW pixels a work-item, one work-item a work-group."""
    (n, c, h, wd), m = x.shape, w.shape[0]
    mg, i32 = m // group, np.int32
    mb = min(CPU_MB if name != "conv1x1_cpu" else CPU_1X1_MB, mg)
    vw = CPU_VW if name == "conv1x1_cpu" else cpu_vector_width(out[1])
    wb, sb = channel_vectors(ctx, bias, slope, m, lambda v: pack_blocks(v, group, mb))
    wk = Const(pack_blocks(w.const.reshape(m, -1), group, mb))
    mbg = -(-mg // mb)
    opts += (f"-DVW={vw}", f"-DMB={mb}")
    if name == "conv1x1_cpu":
        blocks = -(-h * wd // vw)
        nb = -(-min(blocks, -(-CPU_WORK // c)) // CPU_1X1_PB) * CPU_1X1_PB  # a multiple of PB
        args = [x, wk, wb, sb, *res, ctx.outputs[0], *map(i32, (n, c, m, h * wd, nb))]
        gws = (-(-blocks // nb), mbg, n)
    else:
        args = [x, wk, wb, sb, *res, ctx.outputs[0],
                *map(i32, (n, c // group, mg, mbg, group, h, wd, out[0], out[1], pads[0], pads[1]))]
        gws = (-(-out[1] // vw), out[0], n * group * mbg)
    if name == "conv1x1_cpu":
        opts += (f"-DPB={CPU_1X1_PB}",)
    if name == "conv_rows_cpu":
        bufw = row_buffer(wd, k, s, pads, out, d)
        rows = max(1, rows_per_item(c // group, k, s, d, bufw))  # forced on a conv too large: private memory
        gws = (-(-out[0] // rows), n * group * mbg, 1)
        opts += (f"-DCGB={c // group}", f"-DBUFW={bufw}", f"-DROWS={rows}")
    ctx.kernel("conv", name, gws, args, options=opts, lws=(1, 1, 1))


def launch(ctx, *, _op_type="Conv", kernel_shape=None, strides=None, pads=None, dilations=None, group=1,
           auto_pad="NOTSET", activation=None, activation_params=(), kernel_variant=None, residual=False,
           tiling=None, **_):
    x, w = ctx.inputs[0], ctx.inputs[1]
    if len(x.shape) != 4 or w.const is None:
        raise ConvertError(f"node {ctx.node.name!r}: pymace runs 2-D Conv with constant weights only")
    bias, res, slope = split_inputs(ctx.inputs[2:], activation, residual)
    res = [res] if res is not None else []  # the residual buffer goes right before y (RES_PARAM in conv.cl)
    k, s, p, d, out = conv_geometry(x.shape, w.shape, kernel_shape, strides, pads, dilations, auto_pad, group)
    (n, c, h, wd), m = x.shape, w.shape[0]
    forced_tiling, tiling, last = tiling, None, False
    if kernel_variant:  # forced (tests, experiments): the heuristic's parameters for that kernel
        name, px = choose_variant(x.shape, w.shape, group, k, s, p, out, ctx.device, kernel_variant)
        if forced_tiling and name == "conv_gemm":  # [TM, TN, TK, SPLIT(, last)]
            tiling, last = gemm_params(gemm_choice(*forced_tiling))
    else:  # the heuristic's variant, or the one `pymace tune` measured best for this geometry on this device
        chosen = ctx.choose(variant_key(x.shape, w.shape, group, s, p, d, bool(res)),
                            *variants(x.shape, w.shape, group, k, s, p, out, ctx.device))
        name, px = chosen["variant"], chosen.get("px", 4)
        if name == "conv_gemm":
            tiling, last = gemm_params(chosen)
    opts = (f"-DKH={k[0]}", f"-DKW={k[1]}", f"-DSH={s[0]}", f"-DSW={s[1]}", f"-DDH={d[0]}", f"-DDW={d[1]}",
            *act.build_options(activation, activation_params), *(("-DHAS_RES=1",) if res else ()))
    if name == "conv_gemm":
        return launch_gemm(ctx, x, w, bias, slope, res, out, {"build": opts, "pads": p}, tiling, last=last)
    if name.endswith("_cpu"):
        return launch_cpu(ctx, name, x, w, bias, slope, res, out, group, opts, p, k, s, d)
    if name == "conv_depthwise":
        return launch_depthwise(ctx, x, w, bias, slope, res, out, p, px, opts)
    if name != "conv1x1":  # conv1x1 always tiles 4 pixels; leaving PX out lets more nodes share its program
        opts += (f"-DPX={px}",)
    i32 = np.int32
    if name == "conv1x1":
        wb, sb = channel_vectors(ctx, bias, slope, m, lambda v: pack_blocks(v, 1))
        args = [x, Const(pack_blocks(w.const.reshape(m, c), 1)), wb, sb, *res, ctx.outputs[0],
                *map(i32, (n, c, m, h * wd))]
        gws = (-(-h * wd // 4), -(-m // 4), n)
    else:
        mbg = -(-(m // group) // 4)
        wb, sb = channel_vectors(ctx, bias, slope, m, lambda v: pack_blocks(v, group))
        args = [x, Const(pack_blocks(w.const.reshape(m, -1), group)), wb, sb, *res, ctx.outputs[0],
                *map(i32, (n, c // group, m // group, mbg, group, h, wd, out[0], out[1], p[0], p[1]))]
        gws = (-(-out[1] // px), out[0], n * group * mbg)
    ctx.kernel("conv", name, gws, args, options=opts)


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
    Case("cpu_direct_residual_prelu_s2", [(1, 5, 21, 35), (11, 5, 3, 3), (11,), (1, 11, 11, 18),
                                          np.linspace(-0.3, 0.3, 11, dtype=np.float32)],
         dict(kernel_shape=[3, 3], pads=[1, 1, 1, 2], strides=[2, 2], dilations=[1, 1], group=1, residual=True,
              activation="PRelu", kernel_variant="conv_direct_cpu"), consts=(1, 2, 4)),
    _case("cpu_direct_grouped_s1", (1, 12, 9, 19), (18, 4, 3, 3), kernel_shape=[3, 3], pads=[1] * 4, strides=[1, 1],
          dilations=[1, 1], group=3, kernel_variant="conv_direct_cpu"),
    _case("cpu_rows_s3_dilated", (1, 4, 20, 41), (9, 4, 3, 3), kernel_shape=[3, 3], pads=[2] * 4, strides=[3, 3],
          dilations=[2, 2], group=1, activation="Relu", kernel_variant="conv_rows_cpu"),
    _case("cpu_rows_dw_s2_wide", (1, 10, 9, 70), (10, 1, 3, 3), kernel_shape=[3, 3], pads=[1] * 4,
          strides=[2, 2], dilations=[1, 1], group=10, kernel_variant="conv_rows_cpu"),
    Case("gemm_splitk_prelu_1x1", [(1, 1100, 6, 6), (60, 1100, 1, 1), None, np.linspace(-1, 1, 60, dtype=np.float32)],
         dict(kernel_shape=[1, 1], pads=[0] * 4, **_G, activation="PRelu", kernel_variant="conv_gemm"),
         consts=(1, 3)),
]
