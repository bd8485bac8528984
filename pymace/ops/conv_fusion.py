"""What a GPU plan fuses around a conv that runs as conv_gemm (kernels/conv_gemm.cl), for Conv and SeparableConv:
pymace's own attributes (docs/ir.md, "Conv fusions"), set by plan-time passes (passes.for_device), never in a
.pmace file. A conv without them is a plain conv.

  fused_inputs         the names, in this order, of the extra inputs the node has after its usual ones: a subset
                       of FUSED_INPUTS
  input_channels       [c0, c1]: the conv reads channels c0 .. c1-1 of input 0 (a channel Slice fused)
  prologue_scale       input: each input value is multiplied by it before the conv reads it, per channel ([C],
                       [1, C, 1, 1]) or per image and channel ([N, C, 1, 1]: a squeeze-excitation scale); the
                       padding stays 0
  prologue_shift       input [C]: added after the scale (a BatchNormalization before the conv)
  prologue_activation  None or "Relu": applied after the scale and shift
  prologue_max_pool    k (odd; a 1x1 conv, stride 1, no padding, and no other prologue): the conv reads the max
                       over the k x k window around each pixel (stride 1, the padding ignored): a MaxPool fused
  prefix               input [N, Cp, OH, OW]: its channels `prefix_channels` ([c0, c1], default all) come first in
                       the output, then the conv's: a Concat whose last input is this conv, without its launch
  shuffle_groups       G: the output channels (prefix included) come out as ShuffleNet's channel shuffle leaves
                       them (reshape [N, G, C/G, H, W], swap axes 1 and 2, reshape back)
  out_offset,          the conv's channels are written at channel out_offset of a buffer of out_channels channels
  out_channels         that the runtime binds in the output's place (a Concat done in place by the memory
                       planner); the node's output value is its own channels, as without them"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConvertError
from .base import Const

FUSED_INPUTS = ("prologue_scale", "prologue_shift", "prefix")
ATTRS = ("fused_inputs", "input_channels", "prologue_activation", "prologue_max_pool", "prefix_channels",
         "shuffle_groups", "out_offset", "out_channels")
PROLOGUE_ACTIVATIONS = (None, "Relu")


def _pool_size(k, extra: dict) -> int | None:
    if k is None:
        return None
    if int(k) < 1 or int(k) % 2 == 0 or "prologue_scale" in extra:
        raise ConvertError(f"prologue_max_pool {k} is not an odd window size, or comes with a prologue_scale")
    return int(k)


def _pair(value, what: str, channels: int) -> tuple[int, int]:
    c0, c1 = (int(v) for v in value)
    if not 0 <= c0 < c1 <= channels:
        raise ConvertError(f"{what} {[c0, c1]} is not a channel range of {channels} channels")
    return c0, c1


@dataclass(frozen=True, eq=False)
class ConvFusion:
    """A node's fusions; tensors are whatever the caller holds (arrays, TensorInfo, TensorRef: `.shape`)."""

    input_channels: tuple[int, int] | None = None
    scale: Any = None
    shift: Any = None
    prologue_activation: str | None = None
    prefix: Any = None
    prefix_channels: tuple[int, int] | None = None
    shuffle_groups: int = 1
    out_offset: int | None = None
    out_channels: int | None = None
    max_pool: int | None = None

    @classmethod
    def split(cls, rest, attrs: dict) -> tuple[list, ConvFusion]:
        """(the inputs before the fused ones, the fusions) of a node whose inputs after its weights are `rest`;
        `attrs` are the node's attributes (only the fusions' are read)."""
        names = list(attrs.get("fused_inputs") or ())
        if any(n not in FUSED_INPUTS for n in names) or names != sorted(names, key=FUSED_INPUTS.index) \
                or len(set(names)) != len(names) or len(names) > len(rest):
            raise ConvertError(f"fused_inputs {names} is not an ordered subset of {list(FUSED_INPUTS)} that the "
                               f"node's inputs hold")
        rest = list(rest)
        extra = dict(zip(names, rest[len(rest) - len(names):]))
        rest = rest[:len(rest) - len(names)]
        if attrs.get("prologue_activation") not in PROLOGUE_ACTIVATIONS:
            raise ConvertError(f"prologue_activation {attrs['prologue_activation']!r} is not one of "
                               f"{PROLOGUE_ACTIVATIONS}")
        offset, total = attrs.get("out_offset"), attrs.get("out_channels")
        if (offset is None) != (total is None) or (offset is not None and "prefix" in extra):
            raise ConvertError("out_offset and out_channels come together, and not with a prefix")
        fusion = cls(tuple(attrs["input_channels"]) if attrs.get("input_channels") is not None else None,
                     extra.get("prologue_scale"), extra.get("prologue_shift"), attrs.get("prologue_activation"),
                     extra.get("prefix"), tuple(attrs["prefix_channels"]) if attrs.get("prefix_channels") else None,
                     int(attrs.get("shuffle_groups") or 1), None if offset is None else int(offset),
                     None if total is None else int(total), _pool_size(attrs.get("prologue_max_pool"), extra))
        if fusion.shift is not None and fusion.scale is None or fusion.prologue_activation and fusion.scale is None:
            raise ConvertError("prologue_shift and prologue_activation need a prologue_scale")
        return rest, fusion

    @property
    def active(self) -> bool:
        return (self.input_channels is not None or self.scale is not None or self.prefix is not None
                or self.shuffle_groups != 1 or self.out_offset is not None or self.max_pool is not None)

    def check_window(self, window) -> None:
        """The conv's window where a fusion needs a particular one (the max-pool prologue: a plain 1x1 conv)."""
        if self.max_pool is not None and (window.kernel != (1, 1) or window.strides != (1, 1) or any(window.pads)):
            raise ConvertError("prologue_max_pool needs a 1x1 conv, stride 1, no padding")

    @property
    def prologue(self) -> bool:
        return self.scale is not None

    def x_shape(self, x_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The input as the conv sees it: the channel view, the prologue's operands checked against it."""
        x_shape = tuple(x_shape)
        if self.input_channels is not None:
            if len(x_shape) != 4:
                raise ConvertError(f"input_channels needs a 2-D input, not {list(x_shape)}")
            c0, c1 = _pair(self.input_channels, "input_channels", x_shape[1])
            x_shape = (x_shape[0], c1 - c0, *x_shape[2:])
        if self.prologue:
            n, c = x_shape[:2]
            scale = tuple(self.scale.shape)
            if scale not in ((c,), (n, c), (n, c, 1, 1), (1, c), (1, c, 1, 1)) or (
                    self.shift is not None and tuple(self.shift.shape) != (c,)):
                raise ConvertError(f"prologue scale {list(scale)} / shift "
                                   f"{list(self.shift.shape) if self.shift is not None else None} for an input of "
                                   f"{c} channels")
        return x_shape

    def prefix_range(self) -> tuple[int, int]:
        return _pair(self.prefix_channels or (0, self.prefix.shape[1]), "prefix_channels", self.prefix.shape[1])

    def out_shape(self, y_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The node's output shape for a conv output of `y_shape`: the prefix's channels first; checked."""
        y_shape = tuple(y_shape)
        if self.out_offset is not None and not 0 <= self.out_offset <= self.out_channels - y_shape[1]:
            raise ConvertError(f"out_offset {self.out_offset} and out_channels {self.out_channels} do not hold "
                               f"{y_shape[1]} channels")
        if self.prefix is not None:
            pre = tuple(self.prefix.shape)
            if len(pre) != 4 or pre[0] != y_shape[0] or pre[2:] != y_shape[2:]:
                raise ConvertError(f"prefix of shape {list(pre)} for a conv output of shape {list(y_shape)}")
            c0, c1 = self.prefix_range()
            y_shape = (y_shape[0], c1 - c0 + y_shape[1], *y_shape[2:])
        if self.shuffle_groups < 1 or y_shape[1] % self.shuffle_groups:
            raise ConvertError(f"shuffle_groups {self.shuffle_groups} does not divide {y_shape[1]} channels")
        return y_shape

    def reference_input(self, x: np.ndarray) -> np.ndarray:
        if self.input_channels is not None:
            x = x[:, self.input_channels[0]:self.input_channels[1]]
        if self.prologue:
            n, c = x.shape[:2]
            scale = np.asarray(self.scale, np.float32)
            scale = scale.reshape((n, c) if scale.ndim > 1 else (1, c))
            x = x * scale.reshape(scale.shape + (1,) * (x.ndim - 2))
            if self.shift is not None:
                x = x + np.asarray(self.shift, np.float32).reshape((1, c) + (1,) * (x.ndim - 2))
            if self.prologue_activation == "Relu":
                x = np.maximum(x, 0)
        if self.max_pool is not None:
            k, (h, w) = self.max_pool, x.shape[2:]
            padded = np.pad(x, [(0, 0), (0, 0), (k // 2, k // 2), (k // 2, k // 2)], constant_values=-np.inf)
            x = np.max([padded[:, :, i:i + h, j:j + w] for i in range(k) for j in range(k)], axis=0)
        return np.ascontiguousarray(x, np.float32)

    def reference_output(self, y: np.ndarray) -> np.ndarray:
        if self.prefix is not None:
            c0, c1 = self.prefix_range()
            y = np.concatenate([np.asarray(self.prefix, np.float32)[:, c0:c1], y], axis=1)
        g = self.shuffle_groups
        if g > 1:
            n, c = y.shape[:2]
            y = y.reshape(n, g, c // g, *y.shape[2:]).swapaxes(1, 2).reshape(y.shape)
        return np.ascontiguousarray(y)

    def kernel_values(self, x_shape: tuple[int, ...], m: int) -> tuple[dict, tuple[str, ...]]:
        """conv_gemm's arguments and build options for these fusions, `x_shape` the shape of the node's input 0
        and `m` the conv's output channels."""
        c0 = self.input_channels[0] if self.input_channels else 0
        values = dict(XC0=c0, XCT=x_shape[1], YC0=0, YCT=m, YG=self.shuffle_groups)
        x_shape = self.x_shape(x_shape)
        options: tuple[str, ...] = ()
        if self.out_offset is not None:
            values |= dict(YC0=self.out_offset, YCT=self.out_channels)
        if self.prefix is not None:
            p0, p1 = self.prefix_range()
            values |= dict(pre=self.prefix, PC=p1 - p0, PC0=p0, PCT=self.prefix.shape[1], YC0=p1 - p0,
                           YCT=p1 - p0 + m)
            options += ("-DPREFIX=1",)
        if self.prologue:
            n, c = x_shape[:2]
            shift = self.shift if self.shift is not None else Const(np.zeros(c, np.float32))
            per_image = len(self.scale.shape) > 1 and self.scale.shape[0] == n > 1
            values |= dict(ps=self.scale, pt=shift, PSN=c if per_image else 0)
            options += ("-DPROLOGUE=1",) + (("-DPRO_RELU=1",) if self.prologue_activation == "Relu" else ())
        if self.max_pool is not None:
            options += (f"-DPRO_POOL={self.max_pool}",)
        return values, options

    def layout_values(self, m: int) -> dict:
        """conv_splitk_reduce's output layout arguments."""
        values = dict(YC0=0, YCT=m, YG=self.shuffle_groups)
        if self.out_offset is not None:
            values |= dict(YC0=self.out_offset, YCT=self.out_channels)
        if self.prefix is not None:
            p0, p1 = self.prefix_range()
            values |= dict(YC0=p1 - p0, YCT=p1 - p0 + m)
        return values


NO_FUSION = ConvFusion()
