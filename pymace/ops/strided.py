"""A strided view: how an op reads an operand of one shape out of another tensor's elements without a copy.

    view = {"shape": [d0, d1, ...], "strides": [s0, s1, ...], "offset": o}

element (i0, i1, ...) of the operand is element o + i0*s0 + i1*s1 + ... of the source tensor, counted in elements
of its contiguous (row-major) layout. A GPU plan's MatMul reads an operand that Transposes, Reshapes, Squeezes and
scalar Gathers made out of one tensor this way (passes/fuse_transpose.py: `a_view`, `b_view`), so those copies and
their launches go. A view in a graph is checked against its source before anything reads through it: every
element it names lies inside the source."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from . import binary

MAX_INDEX = 2**31 - 1  # the kernels index with 32-bit ints


def contiguous_strides(shape) -> list[int]:
    """Element strides of a row-major tensor of `shape`."""
    return binary.strides([int(d) for d in shape], [True] * len(shape))


def reshape_strides(shape, strides, new_shape) -> list[int] | None:
    """The strides that read `new_shape` out of a view (`shape`, `strides`) with the same elements in row-major
    order, or None when no strides can (the reshape merges dims that are not contiguous with each other)."""
    if 0 in shape or 0 in new_shape:
        return None
    old = [(int(d), int(s)) for d, s in zip(shape, strides) if d != 1]
    new = [int(d) for d in new_shape]
    out = [0] * len(new)
    oi = ni = 0
    try:
        while oi < len(old) and ni < len(new):
            oj, nj, osize, nsize = oi + 1, ni + 1, old[oi][0], new[ni]
            while osize != nsize:
                if nsize < osize:
                    nsize, nj = nsize * new[nj], nj + 1
                else:
                    osize, oj = osize * old[oj][0], oj + 1
            if any(old[k][1] != old[k + 1][0] * old[k + 1][1] for k in range(oi, oj - 1)):
                return None  # the old dims this group merges are not contiguous with each other
            out[nj - 1] = old[oj - 1][1]
            for k in range(nj - 1, ni, -1):
                out[k - 1] = out[k] * new[k]
            oi, ni = oj, nj
    except IndexError:  # the element counts differ: not a reshape
        return None
    if oi < len(old) or any(d != 1 for d in new[ni:]):
        return None
    return out


def check_view(view, source_shape, what: str) -> tuple[int, ...]:
    """The shape a view reads, after checking it against its source (one ConvertError line otherwise)."""
    if not isinstance(view, dict) or set(view) != {"shape", "strides", "offset"}:
        raise ConvertError(f"{what} must be a mapping of shape, strides and offset")
    shape, strides, offset = view["shape"], view["strides"], view["offset"]
    ints = [*shape, *strides, offset] if isinstance(shape, list) and isinstance(strides, list) else None
    if ints is None or len(shape) != len(strides) or not shape or \
            not all(isinstance(v, int) and not isinstance(v, bool) for v in ints):
        raise ConvertError(f"{what}: shape and strides must be lists of ints of one length, offset an int")
    if any(d < 1 for d in shape) or any(s < 0 for s in strides) or offset < 0:
        raise ConvertError(f"{what}: dims must be ≥ 1, strides and offset ≥ 0")
    size = int(np.prod(source_shape, dtype=np.int64))
    last = offset + sum((d - 1) * s for d, s in zip(shape, strides))
    if last >= size or last > MAX_INDEX:
        raise ConvertError(f"{what} reads element {last} of a source of {size}")
    return tuple(shape)


def read(array: np.ndarray, view: dict) -> np.ndarray:
    """The operand a (checked) view reads out of `array` (a copy)."""
    flat = np.ascontiguousarray(array).reshape(-1)
    item = flat.itemsize
    return np.lib.stride_tricks.as_strided(flat[view["offset"]:], tuple(view["shape"]),
                                           tuple(s * item for s in view["strides"]), writeable=False).copy()


__all__ = ["contiguous_strides", "reshape_strides", "check_view", "read", "MAX_INDEX"]
