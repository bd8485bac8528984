"""The CPU (PoCL) conv kernels of kernels/conv_cpu.cl, explicit vectors and one work-item a work-group:
conv1x1_cpu (MB channels x PB vectors of VW pixels of the flattened map in registers), conv_direct_cpu (any
conv, MB channels x VW pixels of one row), conv_rows_cpu (like conv_direct_cpu over ROWS output rows, their input
rows staged in private memory with the padding) and conv_cvec_cpu (vectors of 8 output channels at PX pixels of a
row). Weights, bias and slope are blocked by each kernel's channels a work-item."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from . import kernel_args
from .base import Const, Scratch
from .conv_layer import ConstVector, ConvLayer, Epilogue, pack_blocks

PROGRAM = "conv_cpu"
# Register blocking for 16 256-bit registers (AVX2), benchmarks/NOTES.md "CPU conv across models":
CPU_VW = 8  # conv1x1_cpu: pixels a vector (one 256-bit register)
CPU_VW_WIDE = 16  # ... on a device whose native float vector is 16 wide (a 512-bit register)
CPU_1X1_MB, CPU_1X1_PB = 6, 2  # conv1x1_cpu: channels x pixel vectors in registers (16 registers: AVX2)
CPU_1X1_MB_WIDE = 8  # ... channels where the native float vector is 16 wide (AVX-512: 32 registers)
CPU_MB = 8  # output channels a work-item of conv_rows_cpu and conv_direct_cpu
CPU_ROW_VW = 8  # conv_rows_cpu's and conv_direct_cpu's widest vector
CPU_ROW_VW_WIDE = 16  # ... on a device whose native float vector is 16 wide
CPU_CVEC_ACC = 12  # conv_cvec_cpu: float8 accumulators a tile at most (PX x MV), 16 vector registers (AVX2)
CPU_CVEC_ACC_WIDE = 16  # ... for a stride-1 conv on a device whose native float vector is 16 wide (AVX-512: 32
# registers; strided tiles gained nothing from it and lost when wider, benchmarks/NOTES.md)
CPU_CVEC_LANES_WIDE = 16  # conv_cvec_cpu: channels a vector on a wide device (8 elsewhere)
CPU_CVEC_MV, CPU_CVEC_PX = 0, 0  # conv_cvec_cpu's tile when not 0 (benchmarks/cpu_layers.py sets them)
CPU_CVEC_SEGT = 32  # conv_cvec_cpu's SEGT: tiles of a segment at most (kernels/conv_cpu.cl)
CPU_CVEC_STAGE_FLOATS = 4096  # conv_cvec_cpu's STAGE_FLOATS: its staging buffer (kernels/conv_cpu.cl)
CPU_CVEC_STAGE_BYTES = 8 << 10  # conv_cvec_cpu: staged input rows of a channel block (kept in L1)
CPU_CVEC_WEIGHT_BYTES = 8 << 10  # conv_cvec_cpu: weights of a channel block (kept in L1)
CPU_CVEC_ITEMS = 16  # conv_cvec_cpu: work-items at least, before a work-item takes several rows
CPU_WORK = 512  # conv1x1_cpu: input channels x pixel blocks a work-item at least (work-groups cost PoCL time)
CPU_ROWS_MAX = 8192  # floats of input rows that conv_rows_cpu stages in private memory (32 KiB)
CPU_ROWS = 16  # output rows a work-item of conv_rows_cpu at most (fewer work-groups, fewer copies of a row)


def wide(device) -> bool:
    """Whether `device`'s native float vector is 16 wide (AVX-512: 512-bit vectors, 32 registers)."""
    return device.native_float_width >= 16


def pixel_vector(device) -> int:
    """conv1x1_cpu's pixels a vector on `device`."""
    return CPU_VW_WIDE if wide(device) else CPU_VW


def vector_width(out_w: int, widest: int = CPU_ROW_VW) -> int:
    """conv_direct_cpu's and conv_rows_cpu's pixels a vector: the widest of `widest` (CPU_ROW_VW, or
    CPU_ROW_VW_WIDE on a wide device), 8, 4 that a row fills."""
    return next((v for v in (16, 8) if v <= widest and out_w >= v), 4)


def rows_per_item(cg: int, k, s, d, bufw: int) -> int:
    """conv_rows_cpu's ROWS: the most output rows (CPU_ROWS, halving) whose input rows fit CPU_ROWS_MAX; 0: none."""
    rows = CPU_ROWS
    while rows and cg * ((rows - 1) * s[0] + (k[0] - 1) * d[0] + 1) * bufw > CPU_ROWS_MAX:
        rows //= 2
    return rows


def row_buffer(w: int, k, s, p, out_hw, d=(1, 1)) -> int:
    """conv_rows_cpu's BUFW: a zero-padded input row, long enough for every vector load of a row's blocks,
    rounded up to a power of two (>= 16) so that layers of similar width share a program."""
    need = max(p[1] + w, s[1] * max(out_hw[1], vector_width(out_hw[1])) + (k[1] - 1) * d[1])
    return max(16, 1 << (need - 1).bit_length())


def rows_fit(layer: ConvLayer) -> bool:
    """Whether conv_rows_cpu's staged rows fit private memory (the heuristic's test, at dilation 1)."""
    w = layer.window
    bufw = row_buffer(layer.x_shape[3], w.kernel, w.strides, w.pads, w.out)
    return rows_per_item(layer.c // layer.group, w.kernel, w.strides, (1, 1), bufw) > 0


def one_by_one_channels(device) -> int:
    """conv1x1_cpu's output channels a work-item (MB; PB pixel vectors each) on `device`."""
    return CPU_1X1_MB_WIDE if wide(device) else CPU_1X1_MB


def cvec_lanes(device) -> int:
    """conv_cvec_cpu's output channels a vector on `device`."""
    return CPU_CVEC_LANES_WIDE if wide(device) else 8


def cvec_accumulators(device, stride_w: int) -> int:
    """conv_cvec_cpu's accumulators a tile at most on `device`: what its vector registers hold beside the loads."""
    return CPU_CVEC_ACC_WIDE if wide(device) and stride_w == 1 else CPU_CVEC_ACC


def cvec_tile(mg: int, out_w: int, accumulators: int, lanes: int = 8) -> tuple[int, int]:
    """conv_cvec_cpu's (MV, PX): 2 channel vectors when a group has more channels than a vector's `lanes`, and
    the pixels a tile (at most `accumulators`, at most the row) that waste the fewest on the row's last tile."""
    mv = CPU_CVEC_MV or (2 if mg > lanes else 1)
    if CPU_CVEC_PX:
        return mv, min(CPU_CVEC_PX, out_w)
    most = min(out_w, accumulators // mv)
    return mv, min(range(max(1, most - 2), most + 1), key=lambda px: (-(-out_w // px) * px, -px))


@dataclass(frozen=True)
class CvecPlan:
    """conv_cvec_cpu's blocking (kernels/conv_cpu.cl): tile (MV, PX), RB rows a work-item, TC tiles a segment, CB
    input channels a block, NRB x BW floats of staged rows a channel (STAGE: the conv has padding), LANES output
    channels a vector."""

    mv: int
    px: int
    rb: int
    tc: int
    cb: int
    nrb: int
    bw: int
    stage: bool
    lanes: int = 8


def cvec_plan(layer: ConvLayer, accumulators: int, lanes: int = 8) -> CvecPlan:
    """RB and TC: a segment of at most CPU_CVEC_SEGT tiles (whole rows when a row has fewer), fewer rows while the
    work-items are under CPU_CVEC_ITEMS or the staged rows exceed the buffer; CB: the channels whose staged rows
    and weights fit CPU_CVEC_STAGE_BYTES and CPU_CVEC_WEIGHT_BYTES."""
    win = layer.window
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = win.kernel, win.strides, win.dilations, win.out
    mg, cg = layer.m // layer.group, layer.c // layer.group
    mv, px = cvec_tile(mg, ow, accumulators, lanes)
    per_row = -(-ow // px)
    tc = min(per_row, CPU_CVEC_SEGT)
    rb = max(1, min(oh, CPU_CVEC_SEGT // per_row)) if tc == per_row else 1
    items = layer.n * layer.group * -(-mg // (mv * lanes))
    while rb > 1 and items * -(-oh // rb) < CPU_CVEC_ITEMS:
        rb -= 1

    def rows_cols(rb, tc):
        return (rb - 1) * sh + (kh - 1) * dh + 1, (tc * px - 1) * sw + (kw - 1) * dw + 1

    while rb > 1 and rows_cols(rb, tc)[0] * rows_cols(rb, tc)[1] > CPU_CVEC_STAGE_FLOATS:
        rb -= 1
    while tc > 1 and rows_cols(rb, tc)[0] * rows_cols(rb, tc)[1] > CPU_CVEC_STAGE_FLOATS:
        tc -= 1
    nrb, bw = rows_cols(rb, tc)
    stage = any(win.pads)
    staged = nrb * bw if stage else min(nrb, layer.x_shape[2]) * min(bw, layer.x_shape[3])
    cb = min(cg, max(1, CPU_CVEC_STAGE_BYTES // (4 * staged)),
             max(1, CPU_CVEC_WEIGHT_BYTES // (4 * kh * kw * mv * lanes)))
    return CvecPlan(mv, px, rb, tc, cb, nrb, bw, stage, lanes)


def flattened(layer: ConvLayer) -> ConvLayer:
    """A 1x1 stride-1 conv without padding as conv_cvec_cpu runs it: its map as one row (longer segments)."""
    w = layer.window
    if w.kernel != (1, 1) or w.strides != (1, 1) or any(w.pads):
        return layer
    n, c, h, wd = layer.x_shape
    window = dataclasses.replace(w, out=(1, h * wd))
    return dataclasses.replace(layer, x_shape=(n, c, 1, h * wd), window=window)


def launch(ctx, layer: ConvLayer, x, weights, epilogue: Epilogue, variant, out=None) -> None:  # noqa: PLR0913
    """conv1x1_cpu, conv_direct_cpu, conv_rows_cpu or conv_cvec_cpu (variant.kernel) for `layer`, reading `x`,
    writing the node's output or `out` (a Scratch)."""
    name, m, g = variant.kernel, layer.m, layer.group
    if name == "conv1x1_cpu" and layer.is_strided_1x1:
        x, layer = subsample(ctx, layer, x)
    layer = flattened(layer) if name == "conv_cvec_cpu" else layer
    mg, plan, vw = m // g, None, None
    if name == "conv_cvec_cpu":
        plan = cvec_plan(layer, cvec_accumulators(ctx.device, layer.window.strides[1]), cvec_lanes(ctx.device))
        block = plan.mv * plan.lanes
        extra = (f"-DMV={plan.mv}", f"-DPX={plan.px}", f"-DSTAGE={int(plan.stage)}", f"-DLANES={plan.lanes}")
    else:
        block = min(CPU_MB if name != "conv1x1_cpu" else one_by_one_channels(ctx.device), mg)
        vw = (pixel_vector(ctx.device) if name == "conv1x1_cpu" else
              vector_width(layer.out[1], CPU_ROW_VW_WIDE if wide(ctx.device) else CPU_ROW_VW))
        extra = (f"-DVW={vw}", f"-DMB={block}")
    values = dict(x=x, w=Const(pack_blocks(weights.reshape(m, -1), g, block)),
                  **epilogue.args(m, lambda v: pack_blocks(v, g, block)), y=ctx.outputs[0] if out is None else out,
                  N=layer.n)
    options = layer.options() + epilogue.options() + extra
    if name == "conv1x1_cpu":
        gws = _gws_1x1(layer, values, block, vw)
        options += (f"-DPB={CPU_1X1_PB}",)
    else:
        gws = _gws_rows(layer, name, block, values, plan, vw)
        if name == "conv_rows_cpu":
            options += _rows_options(layer)
    kernel_args.launch(ctx, PROGRAM, name, gws, values, options, lws=(1, 1, 1))


def subsample(ctx, layer: ConvLayer, x) -> tuple[Scratch, ConvLayer]:
    """A strided 1x1 conv's input at its output's pixels (subsample_cpu, into a Scratch) and the stride-1 layer
    that reads it."""
    (n, c, h, w), (oh, ow), (sh, sw) = layer.x_shape, layer.out, layer.window.strides
    y = Scratch(n * c * oh * ow)
    ctx.kernel(PROGRAM, "subsample_cpu", (oh, n * c), [x, y, *map(np.int32, (h, w, oh, ow, n * c))],
               options=(f"-DSH={sh}", f"-DSW={sw}"), lws=(1, 1))
    window = dataclasses.replace(layer.window, strides=(1, 1), dilations=(1, 1))
    return y, dataclasses.replace(layer, x_shape=(n, c, oh, ow), window=window)


def _gws_1x1(layer: ConvLayer, values: dict, block: int, vw: int) -> tuple[int, ...]:
    c, (h, w) = layer.c, layer.x_shape[2:]
    blocks = -(-h * w // vw)
    nb = -(-min(blocks, -(-CPU_WORK // c)) // CPU_1X1_PB) * CPU_1X1_PB  # a multiple of PB
    values |= dict(C=c, M=layer.m, P=h * w, NB=nb)
    return -(-blocks // nb), -(-layer.m // block), layer.n


def _gws_rows(layer: ConvLayer, name: str, block: int, values: dict, plan: CvecPlan | None,  # noqa: PLR0913
              vw: int | None) -> tuple[int, ...]:
    (n, c, h, w), g, win = layer.x_shape, layer.group, layer.window
    mg = layer.m // g
    mbg = -(-mg // block)
    values |= dict(CG=c // g, MG=mg, MBG=mbg, G=g, H=h, W=w, OH=win.out[0], OW=win.out[1], PT=win.pads[0],
                   PL=win.pads[1])
    if plan is not None:  # conv_cvec_cpu
        values |= dict(CB=plan.cb, RB=plan.rb, TC=plan.tc, NRB=plan.nrb, BW=plan.bw)
        return -(-win.out[0] // plan.rb), n * g * mbg, 1
    if name == "conv_rows_cpu":
        rows = max(1, rows_per_item(c // g, win.kernel, win.strides, win.dilations, _bufw(layer)))  # 1 when
        return -(-win.out[0] // rows), n * g * mbg, 1  # forced on a conv too large for private memory
    return -(-win.out[1] // vw), win.out[0], n * g * mbg


def _bufw(layer: ConvLayer) -> int:
    win = layer.window
    return row_buffer(layer.x_shape[3], win.kernel, win.strides, win.pads, win.out, win.dilations)


def _rows_options(layer: ConvLayer) -> tuple[str, ...]:
    win, cg = layer.window, layer.c // layer.group
    rows = max(1, rows_per_item(cg, win.kernel, win.strides, win.dilations, _bufw(layer)))
    return f"-DCGB={cg}", f"-DBUFW={_bufw(layer)}", f"-DROWS={rows}"


def fc_fits(device, rows: int, n: int, b, transA: int, bias) -> bool:
    """Whether a Gemm/MatMul runs as conv_cvec_cpu on a CPU: one row of A (batch included), constant 2-D weights
    and a bias (if any) of one value per output column: a 1x1 conv over a 1x1 map (a classifier's FC layer)."""
    if device.is_gpu or transA or rows != 1 or b.const is None or b.const.ndim != 2:
        return False
    return bias is None or (bias.const is not None and bias.const.size in (1, n))


def launch_fc(ctx, weights_nk, bias, alpha: float, beta: float, activation=None, activation_params=(),
              slope=None) -> None:
    """y[1, N] = activation(alpha * a[1, K] . weights_nk[N, K]^T + beta * bias) through conv_cvec_cpu."""
    from .geometry import Window

    n, k = weights_nk.shape
    from .conv_variants import Variant  # conv_variants imports this module

    b = None if bias is None else ConstVector(np.broadcast_to(beta * bias.const.reshape(-1), (n,)))
    epilogue = Epilogue(b, None, slope, activation, tuple(activation_params or ()))
    window = Window((1, 1), (1, 1), (0, 0, 0, 0), (1, 1), (1, 1))
    layer = ConvLayer((1, k, 1, 1), (n, k, 1, 1), 1, window)
    weights = weights_nk if alpha == 1 else np.float32(alpha) * weights_nk  # no copy of a large FC for nothing
    launch(ctx, layer, ctx.inputs[0], weights, epilogue, Variant("conv_cvec_cpu"))
