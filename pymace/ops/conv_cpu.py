"""The CPU (PoCL) conv kernels of kernels/conv.cl, explicit vectors and one work-item a work-group:
conv1x1_cpu (MB channels x PB vectors of VW pixels in registers), conv_direct_cpu (any conv, MB channels x VW
pixels of one row) and conv_rows_cpu (like conv_direct_cpu over ROWS output rows, their input rows staged in
private memory with the padding). Weights, bias and slope are blocked by MB output channels."""
from __future__ import annotations

from . import kernel_args
from .base import Const
from .conv_layer import ConvLayer, Epilogue, pack_blocks

CPU_VW = 16  # conv1x1_cpu: pixels a vector (one AVX-512 register)
CPU_MB = 16  # output channels a work-item of conv_rows_cpu and conv_direct_cpu
CPU_1X1_MB, CPU_1X1_PB = 12, 2  # conv1x1_cpu: channels x pixel vectors in registers (benchmarks/NOTES.md)
CPU_WORK = 512  # conv1x1_cpu: input channels x pixel blocks a work-item at least (work-groups cost PoCL time)
CPU_ROWS_MAX = 8192  # floats of input rows that conv_rows_cpu stages in private memory (32 KiB)
CPU_ROWS = 16  # output rows a work-item of conv_rows_cpu at most (fewer work-groups, fewer copies of a row)


def vector_width(out_w: int) -> int:
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
    need = max(p[1] + w, s[1] * max(out_hw[1], vector_width(out_hw[1])) + (k[1] - 1) * d[1])
    return max(16, 1 << (need - 1).bit_length())


def rows_fit(layer: ConvLayer) -> bool:
    """Whether conv_rows_cpu's staged rows fit private memory (the heuristic's test, at dilation 1)."""
    w = layer.window
    bufw = row_buffer(layer.x_shape[3], w.kernel, w.strides, w.pads, w.out)
    return rows_per_item(layer.c // layer.group, w.kernel, w.strides, (1, 1), bufw) > 0


def launch(ctx, layer: ConvLayer, x, weights, epilogue: Epilogue, variant) -> None:
    """conv1x1_cpu, conv_direct_cpu or conv_rows_cpu (variant.kernel) for `layer`, reading input buffer `x`."""
    name, (n, c, h, w), m, g = variant.kernel, layer.x_shape, layer.m, layer.group
    win, mg = layer.window, m // g
    mb = min(CPU_MB if name != "conv1x1_cpu" else CPU_1X1_MB, mg)
    vw = CPU_VW if name == "conv1x1_cpu" else vector_width(win.out[1])
    values = dict(x=x, w=Const(pack_blocks(weights.reshape(m, -1), g, mb)),
                  **epilogue.args(m, lambda v: pack_blocks(v, g, mb)), y=ctx.outputs[0], N=n)
    options = layer.options() + epilogue.options() + (f"-DVW={vw}", f"-DMB={mb}")
    mbg = -(-mg // mb)
    if name == "conv1x1_cpu":
        blocks = -(-h * w // vw)
        nb = -(-min(blocks, -(-CPU_WORK // c)) // CPU_1X1_PB) * CPU_1X1_PB  # a multiple of PB
        values |= dict(C=c, M=m, P=h * w, NB=nb)
        gws, options = (-(-blocks // nb), mbg, n), options + (f"-DPB={CPU_1X1_PB}",)
    else:
        values |= dict(CG=c // g, MG=mg, MBG=mbg, G=g, H=h, W=w, OH=win.out[0], OW=win.out[1], PT=win.pads[0],
                       PL=win.pads[1])
        gws = (-(-win.out[1] // vw), win.out[0], n * g * mbg)
    if name == "conv_rows_cpu":
        bufw = row_buffer(w, win.kernel, win.strides, win.pads, win.out, win.dilations)
        rows = max(1, rows_per_item(c // g, win.kernel, win.strides, win.dilations, bufw))  # 1 when forced on a
        gws = (-(-win.out[0] // rows), n * g * mbg, 1)  # conv too large for private memory
        options += (f"-DCGB={c // g}", f"-DBUFW={bufw}", f"-DROWS={rows}")
    kernel_args.launch(ctx, "conv", name, gws, values, options, lws=(1, 1, 1))
