"""Sliding-window geometry: kernel, strides, pads, dilations and output size of Conv, ConvTranspose, the pools
and SeparableConv, with ONNX's defaults and padding rules (explicit `pads`, `auto_pad` SAME_UPPER / SAME_LOWER /
VALID, `ceil_mode`), and TFLite's SAME padding (SAME_UPPER). The frontends resolve padding here too.

Every function checks what it is given and raises ConvertError naming the problem (a stride of 0, a negative
pad, weights whose channels do not fit the input and group, an empty output, …): shape inference calls them
through the ops' `infer`, so a malformed model fails at convert with one line."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConvertError

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


@dataclass(frozen=True)
class Window:
    """A resolved window over the spatial axes; `pads` is ONNX's [begin..., end...]."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...]
    dilations: tuple[int, ...]
    out: tuple[int, ...]  # the output's spatial sizes

    @property
    def rank(self) -> int:
        return len(self.kernel)

    @property
    def begin(self) -> tuple[int, ...]:
        return self.pads[:self.rank]

    @property
    def end(self) -> tuple[int, ...]:
        return self.pads[self.rank:]

    @property
    def span(self) -> tuple[int, ...]:
        """The input extent one output value reads: (kernel - 1) * dilation + 1 per axis."""
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel, self.dilations, strict=True))


def _ints(name: str, values, length: int, least: int, default: int | None = None) -> tuple[int, ...]:
    """`values` as a tuple of `length` ints, each at least `least`; absent or empty: `default` repeated."""
    if default is not None and (values is None or (hasattr(values, "__len__") and len(values) == 0)):
        return (default,) * length
    # integers only: int() would truncate 1.5 to 1 for the check while the kernels and the reference read the
    # attribute as given (a Conv group of 1.5 passed here and was a TypeError in the reference: fuzz_pmace 17192)
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__") or not all(map(_is_int, values)):
        raise ConvertError(f"{name} {str(values)[:60]} is not a list of integers")
    out = tuple(int(v) for v in values)
    if len(out) != length:
        raise ConvertError(f"{name} {list(out)} has {len(out)} values, {length} expected")
    if any(v < least for v in out):
        raise ConvertError(f"{name} {list(out)}: every value must be at least {least}")
    return out


def same_pads(size, kernel, strides, dilations, lower: bool = False) -> list[int]:
    """Pads [begin..., end...] that give an output of ceil(size / stride) per axis (ONNX's SAME_UPPER, and TFLite's
    SAME: an odd pixel of padding goes at the end; SAME_LOWER with `lower`: at the beginning)."""
    total = [max(0, (-(-n // s) - 1) * s + (k - 1) * d + 1 - n)
             for n, k, s, d in zip(size, kernel, strides, dilations, strict=True)]
    small, big = [t // 2 for t in total], [t - t // 2 for t in total]
    return big + small if lower else small + big


def window(spatial, kernel, strides=None, pads=None, dilations=None, auto_pad="NOTSET", ceil_mode=0) -> Window:
    """The window of a Conv or pool over input spatial sizes `spatial`. Output sizes: ceil(size / stride) with
    SAME_*; otherwise (size + pads - span) / stride + 1, rounded down, or up with `ceil_mode` (a last window
    that would start beyond the input and its begin padding is dropped, as onnxruntime does)."""
    spatial = tuple(int(n) for n in spatial)
    r = len(spatial)
    k = _ints("kernel_shape", kernel, r, 1)
    s = _ints("strides", strides, r, 1, default=1)
    d = _ints("dilations", dilations, r, 1, default=1)
    if auto_pad not in AUTO_PADS:
        raise ConvertError(f"auto_pad {auto_pad!r} is not one of {', '.join(AUTO_PADS)}")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        p = tuple(same_pads(spatial, k, s, d, lower=auto_pad == "SAME_LOWER"))
        return _checked(spatial, Window(k, s, p, d, tuple(-(-n // st) for n, st in zip(spatial, s, strict=True))))
    p = _ints("pads", pads if auto_pad != "VALID" else None, 2 * r, 0, default=0)
    out = []
    for n, st, e, b, a in zip(spatial, s, [(kk - 1) * dd + 1 for kk, dd in zip(k, d)], p[:r], p[r:], strict=True):
        o = (-(-(n + b + a - e) // st) if ceil_mode else (n + b + a - e) // st) + 1
        out.append(o - 1 if ceil_mode and (o - 1) * st >= n + b else o)
    return _checked(spatial, Window(k, s, p, d, tuple(out)))


def _checked(spatial, w: Window) -> Window:
    if any(o < 1 for o in w.out):
        raise ConvertError(f"the output would be empty ({list(w.out)}): input {list(spatial)}, kernel span "
                           f"{list(w.span)}, pads {list(w.pads)}, strides {list(w.strides)}")
    return w


def _spatial_input(x_shape) -> tuple[int, ...]:
    if len(x_shape) < 3:
        raise ConvertError(f"input of shape {list(x_shape)} has no spatial axes (N, C, then at least one)")
    return tuple(x_shape[2:])


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _group(group, channels: int, what: str) -> int:
    if not _is_int(group):
        raise ConvertError(f"group {str(group)[:40]!r} is not an integer")
    g = int(group)
    if g < 1 or channels % g:
        raise ConvertError(f"group {g} does not divide the {channels} {what}")
    return g


def _kernel(kernel_shape, w_shape) -> tuple[int, ...]:
    """The weights' spatial shape; kernel_shape, when given, must agree with it."""
    k = tuple(int(v) for v in w_shape[2:])
    if kernel_shape is not None and tuple(int(v) for v in kernel_shape) != k:
        raise ConvertError(f"kernel_shape {list(kernel_shape)} disagrees with the weights' {list(k)} "
                           f"(weights of shape {list(w_shape)})")
    return k


def conv_window(x_shape, w_shape, group=1, kernel_shape=None, strides=None, pads=None, dilations=None,
                auto_pad="NOTSET") -> Window:
    """Conv's window, checking the input [N, C, ...] against the weights [M, C / group, k...] and `group`."""
    spatial = _spatial_input(x_shape)
    if len(w_shape) != len(x_shape):
        raise ConvertError(f"weights of shape {list(w_shape)} for an input of shape {list(x_shape)}: both must "
                           f"have rank {len(x_shape)}")
    c, m = int(x_shape[1]), int(w_shape[0])
    g = _group(group, c, "input channels")
    _group(g, m, "output channels (the weights' first dimension)")
    if int(w_shape[1]) * g != c:
        raise ConvertError(f"weights of shape {list(w_shape)} take {w_shape[1]} channels a group, the input has "
                           f"{c} channels in {g} group(s)")
    return window(spatial, _kernel(kernel_shape, w_shape), strides, pads, dilations, auto_pad)


def pool_window(x_shape, kernel_shape, strides=None, pads=None, dilations=None, ceil_mode=0,
                auto_pad="NOTSET") -> Window:
    """MaxPool's and AveragePool's window over an input [N, C, ...]."""
    spatial = _spatial_input(x_shape)
    if kernel_shape is None:
        raise ConvertError("kernel_shape is required")
    return window(spatial, kernel_shape, strides, pads, dilations, auto_pad, ceil_mode)


def transpose_window(x_shape, w_shape, group=1, kernel_shape=None, strides=None, pads=None, dilations=None,  # noqa: PLR0913
                     output_padding=None, output_shape=None, auto_pad="NOTSET") -> Window:
    """ConvTranspose's window (input [N, C, ...], weights [C, M / group, k...]). The output is
    stride * (size - 1) + output_padding + span - pads per axis; with `output_shape` (or SAME_*: size * stride)
    the pads follow from it, the odd one at the end (SAME_UPPER) or the beginning; VALID: no pads."""
    spatial = _spatial_input(x_shape)
    r = len(spatial)
    if len(w_shape) != len(x_shape) or int(w_shape[0]) != int(x_shape[1]):
        raise ConvertError(f"weights of shape {list(w_shape)} for an input of shape {list(x_shape)}: they must "
                           f"have its rank and its {x_shape[1]} channels first")
    _group(group, int(x_shape[1]), "input channels")
    k = _kernel(kernel_shape, w_shape)
    s = _ints("strides", strides, r, 1, default=1)
    d = _ints("dilations", dilations, r, 1, default=1)
    op = _ints("output_padding", output_padding, r, 0, default=0)
    if auto_pad not in AUTO_PADS:
        raise ConvertError(f"auto_pad {auto_pad!r} is not one of {', '.join(AUTO_PADS)}")
    full = [st * (n - 1) + o + (kk - 1) * dd + 1 for n, st, o, kk, dd in zip(spatial, s, op, k, d, strict=True)]
    if output_shape is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        output_shape = [n * st for n, st in zip(spatial, s, strict=True)]
    if output_shape is not None:
        if len(output_shape) < r:
            raise ConvertError(f"output_shape {list(output_shape)} has fewer than {r} values")
        out = _ints("output_shape", list(output_shape)[-r:], r, 1)
        total = [f - o for f, o in zip(full, out, strict=True)]
        small, big = [t // 2 for t in total], [t - t // 2 for t in total]
        p = tuple(small + big if auto_pad == "SAME_UPPER" else big + small)
    else:
        p = _ints("pads", pads if auto_pad != "VALID" else None, 2 * r, 0, default=0)
        out = tuple(f - p[i] - p[r + i] for i, f in enumerate(full))
    return _checked(spatial, Window(k, s, p, d, tuple(out)))
