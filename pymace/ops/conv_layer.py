"""What the conv kernel families (conv_direct.py, conv_gemm.py, conv_cpu.py) share: the layer's shapes and window,
the epilogue every kernel fuses (bias, the residual Add, the activation) and the blocked weight layout."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConvertError
from . import activation as act
from .base import Const, aligned_zeros
from .geometry import Window


@dataclass(frozen=True)
class ConvLayer:
    """A 2-D conv as its kernels see it: input [N, C, H, W], weights [M, C / group, KH, KW], group, window."""

    x_shape: tuple[int, ...]
    w_shape: tuple[int, ...]
    group: int
    window: Window

    @property
    def n(self) -> int:
        return self.x_shape[0]

    @property
    def c(self) -> int:
        return self.x_shape[1]

    @property
    def m(self) -> int:
        return self.w_shape[0]

    @property
    def out(self) -> tuple[int, ...]:
        return self.window.out

    @property
    def pixels(self) -> int:
        """Output pixels of one map."""
        return self.out[0] * self.out[1]

    @property
    def reduction(self) -> int:
        """K, the length of one output's sum: C / group input channels times the kernel's taps."""
        return self.c // self.group * self.w_shape[2] * self.w_shape[3]

    @property
    def is_1x1(self) -> bool:
        """One group, a 1x1 kernel, stride 1 and no padding: a GEMM over the flattened pixels."""
        w = self.window
        return self.group == 1 and w.kernel == (1, 1) and w.strides == (1, 1) and not any(w.pads)

    @property
    def is_strided_1x1(self) -> bool:
        """One group, a 1x1 kernel, no padding, a stride over 1: a GEMM over the input's subsampled pixels."""
        w = self.window
        return self.group == 1 and w.kernel == (1, 1) and w.strides != (1, 1) and not any(w.pads)

    @property
    def is_depthwise(self) -> bool:
        return self.group == self.c == self.m

    def options(self) -> tuple[str, ...]:
        return window_options(self.window)


def window_options(window: Window) -> tuple[str, ...]:
    """A 2-D window as the conv kernels' build options KH KW SH SW DH DW (the pads are arguments)."""
    (kh, kw), (sh, sw), (dh, dw) = window.kernel, window.strides, window.dilations
    return (f"-DKH={kh}", f"-DKW={kw}", f"-DSH={sh}", f"-DSW={sw}", f"-DDH={dh}", f"-DDW={dw}")


@dataclass(frozen=True)
class ConstVector:
    """A constant made by the host (a bias scaled, one repeated per tap) where Epilogue takes a bias or slope
    input: what Epilogue.args reads of either is its `.const`."""

    const: Any


@dataclass(frozen=True)
class Epilogue:
    """What a conv kernel applies to each sum: + bias, + the fused residual (passes/fuse_residual.py), then the
    activation (activation.py), PRelu's `slope` per output channel. Bias and slope are constant refs or None."""

    bias: Any = None
    residual: Any = None
    slope: Any = None
    activation: str | None = None
    activation_params: tuple = ()

    @classmethod
    def of(cls, ctx, rest, activation=None, activation_params=(), residual=False) -> Epilogue:
        """The epilogue of a node whose inputs after x and W are `rest` (split_inputs' order)."""
        bias, res, slope = split_inputs(rest, activation, residual)
        for what, ref in (("bias", bias), ("fused PRelu slope", slope)):
            if ref is not None and ref.const is None:
                raise ConvertError(f"node {ctx.node.name!r}: a {what} must be a constant")
        return cls(bias, res, slope, activation, tuple(activation_params or ()))

    def options(self) -> tuple[str, ...]:
        return (*act.build_options(self.activation, self.activation_params),
                *(("-DHAS_RES=1",) if self.residual is not None else ()))

    def args(self, m: int, pack) -> dict:
        """The kernels' `bias` (zeros when absent) and, for a PRelu, `slope` (Consts laid out by `pack`, a
        [M, 1] -> layout function), and, with a residual, `res` arguments."""
        vectors = {"bias": self.bias.const if self.bias is not None else np.zeros(m, np.float32)}
        if self.activation == "PRelu":  # the kernels have a slope parameter only then (-DHAS_SLOPE)
            if self.slope is None:
                raise ConvertError("a fused PRelu needs its slope as the node's last input")
            vectors["slope"] = np.broadcast_to(self.slope.const.reshape(-1), (m,))
        vectors = {name: Const(pack(np.asarray(v, np.float32).reshape(m, 1))) for name, v in vectors.items()}
        return vectors | ({"res": self.residual} if self.residual is not None else {})


def split_inputs(rest, activation, residual=False):
    """(bias, residual, slope) from the inputs after x and W: [B | "", R (when `residual`), slope (PRelu)].
    PRelu's slope is always the last input; without a residual the bias may be left out before it."""
    slope = rest[-1] if activation == "PRelu" else None
    rest = rest[:-1] if activation == "PRelu" else rest
    bias = rest[0] if rest else None
    res = rest[1] if residual else None
    return bias, res, slope


def pack_blocks(w2d: np.ndarray, group: int, block: int = 4) -> np.ndarray:
    """[M, R] per-output-channel rows -> [G, ceil(Mg/block), R, block], zero-padded: one LOAD4 gives 4 channels
    (block 4); the CPU kernels read `block` consecutive channel weights of one tap."""
    m, r = w2d.shape
    mg = m // group
    mbg = -(-mg // block)
    out = aligned_zeros((group, mbg, r, block))  # a CPU device's weight buffer uses it in place (bind.Weights)
    src = w2d.reshape(group, mg, r)
    # one lane of every block at a time: each copy then runs along R (a transposing copy of the whole runs in
    # inner loops of `block` elements), and no padded intermediate is allocated
    for lane in range(min(block, mg)):
        rows = src[:, lane::block]
        out[:, :rows.shape[1], :, lane] = rows
    return out
