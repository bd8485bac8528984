"""The portable conv kernels of kernels/conv.cl: conv1x1 (a 4x4-blocked GEMM over the flattened pixels),
conv_direct (any conv, 4 output channels x PX pixels a work-item) and conv_depthwise (PX pixels of one channel a
work-item). Weights, bias and slope are blocked by 4 output channels (conv_layer.pack_blocks) except for the
depthwise kernel, which reads them per channel."""
from __future__ import annotations

from . import kernel_args
from .base import Const
from .conv_layer import ConvLayer, Epilogue, pack_blocks


def launch(ctx, layer: ConvLayer, x, weights, epilogue: Epilogue, variant) -> None:
    """conv1x1 or conv_direct (variant.px output pixels a work-item) for `layer`, reading input buffer `x`."""
    n, c, m, g = layer.n, layer.c, layer.m, layer.group
    (h, w), (oh, ow), p = layer.x_shape[2:], layer.out, layer.window.pads
    options = layer.options() + epilogue.options()
    if variant.kernel == "conv1x1":  # always 4 pixels a work-item: without PX more nodes share its program
        values = dict(x=x, w=Const(pack_blocks(weights.reshape(m, c), 1)),
                      **epilogue.args(m, lambda v: pack_blocks(v, 1)), y=ctx.outputs[0], N=n, C=c, M=m, P=h * w)
        kernel_args.launch(ctx, "conv", "conv1x1", (-(-h * w // 4), -(-m // 4), n), values, options)
        return
    mbg = -(-(m // g) // 4)
    values = dict(x=x, w=Const(pack_blocks(weights.reshape(m, -1), g)), **epilogue.args(m, lambda v: pack_blocks(v, g)),
                  y=ctx.outputs[0], N=n, CG=c // g, MG=m // g, MBG=mbg, G=g, H=h, W=w, OH=oh, OW=ow, PT=p[0],
                  PL=p[1])
    kernel_args.launch(ctx, "conv", "conv_direct", (-(-ow // variant.px), oh, n * g * mbg), values,
                       options + (f"-DPX={variant.px}",))


def launch_depthwise(ctx, layer: ConvLayer, x, weights, epilogue: Epilogue, px: int, y=None) -> None:
    """conv_depthwise, `px` output pixels of one channel a work-item; into `y` (a Scratch) instead of the node's
    output when given."""
    n, c, m = layer.n, layer.c, layer.m
    (h, w), (oh, ow), p = layer.x_shape[2:], layer.out, layer.window.pads
    values = dict(x=x, w=Const(weights.reshape(m, -1)), **epilogue.args(m, lambda v: v.reshape(-1)),
                  y=ctx.outputs[0] if y is None else y, N=n, C=c, H=h, W=w, OH=oh, OW=ow, PT=p[0], PL=p[1])
    kernel_args.launch(ctx, "conv", "conv_depthwise", (-(-ow // px), oh, n * c), values,
                       layer.options() + epilogue.options() + (f"-DPX={px}",))
