"""Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout (identity at inference) change only the shape, so
the runtime gives the output input 0's buffer (ALIAS) and no kernel runs. Dtype-agnostic: the frontends fold
int64 shape arithmetic through these references."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import Case, TensorInfo, check_axis, check_ints

OP_TYPES = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout")
ALIAS = True


def _count(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _reshape(shape: tuple[int, ...], target, allowzero) -> tuple:
    """ONNX Reshape: 0 copies the input's dim (unless allowzero), one -1 takes what the others leave; the
    element count must not change."""
    target = check_ints(target if target is not None else [], "Reshape", "shape")
    if any(d < -1 for d in target) or target.count(-1) > 1 or (allowzero and -1 in target and 0 in target):
        raise ConvertError(f"Reshape shape {target[:16]} is not valid (dims >= -1, at most one -1)")
    if not allowzero and any(d == 0 and k >= len(shape) for k, d in enumerate(target)):
        raise ConvertError(f"Reshape shape {target[:16]} copies a dim the input {list(shape)} does not have")
    want = [d if d != 0 or allowzero else shape[k] for k, d in enumerate(target)]
    total = _count(shape)
    if -1 in want:  # the one inferred dim takes what the others leave
        known = _count(d for d in want if d != -1)
        if known == 0 or total % known:
            raise ConvertError(f"Reshape of {list(shape)} to {target[:16]}: no size for the -1 dim")
        want[want.index(-1)] = total // known
    if _count(want) != total:
        raise ConvertError(f"Reshape of {list(shape)} ({total} elements) to {want[:16]} ({_count(want)})")
    return tuple(want)


def out_shape(shape: tuple[int, ...], _op_type: str, shape_=None, allowzero=0, axis=1, axes=None) -> tuple:
    rank = len(shape)
    if _op_type == "Reshape":
        return _reshape(shape, shape_, allowzero)
    if _op_type == "Flatten":
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -rank <= axis <= rank:
            raise ConvertError(f"Flatten axis {str(axis)[:20]} is out of range for rank {rank}")
        axis = int(axis) + rank if axis < 0 else int(axis)
        return (_count(shape[:axis]), _count(shape[axis:]))
    if _op_type == "Squeeze":
        ones = {k for k, d in enumerate(shape) if d == 1}
        drop = {check_axis(a, rank, "Squeeze") for a in check_ints(axes, "Squeeze", "axes")} if axes is not None \
            else ones
        if drop - ones:
            raise ConvertError(f"Squeeze axes {sorted(drop)} of {list(shape)}: only dims of size 1 can go")
        return tuple(d for k, d in enumerate(shape) if k not in drop)
    if _op_type == "Unsqueeze":
        given = check_ints(axes if axes is not None else [], "Unsqueeze", "axes")
        out_rank = rank + len(given)
        new, rest = {check_axis(a, out_rank, "Unsqueeze") for a in given}, iter(shape)
        if len(new) != len(given):
            raise ConvertError(f"Unsqueeze axes {given} repeat")
        return tuple(1 if k in new else next(rest) for k in range(out_rank))
    return tuple(shape)  # Identity, Dropout


def _attrs(attrs: dict) -> dict:
    """`shape` is Reshape's attribute; renamed so it does not clash with the input's shape."""
    known = {k: v for k, v in attrs.items() if k in ("_op_type", "allowzero", "axis", "axes")}
    return {**known, "shape_": attrs.get("shape")}


def infer(x: TensorInfo, *_, **attrs) -> list:
    return [(out_shape(tuple(x.shape), **_attrs(attrs)), x.dtype)]


def reference(x, *_, **attrs) -> list[np.ndarray]:
    """Dropout's optional mask (all true at inference) is given for ONNX conformance only: on the device a
    Dropout is an alias with no mask, and frontends drop the mask output."""
    y = x.reshape(out_shape(x.shape, **_attrs(attrs)))
    return [y, np.ones(y.shape, bool)] if attrs["_op_type"] == "Dropout" else [y]


CASES = [
    Case("reshape_infer", [(2, 3, 5, 7)], {"shape": [0, -1, 7]}, op_type="Reshape"),
    Case("reshape_rank5", [(2, 6, 4)], {"shape": [2, 3, 2, 2, 2]}, op_type="Reshape"),
    Case("flatten_axis2", [(2, 3, 5, 7)], {"axis": 2}, op_type="Flatten"),
    Case("flatten_negative", [(3, 5, 7)], {"axis": -1}, op_type="Flatten"),
    Case("squeeze_axes", [(1, 3, 1, 5)], {"axes": [0, -2]}, op_type="Squeeze"),
    Case("squeeze_all", [(1, 7, 1, 1)], op_type="Squeeze"),
    Case("unsqueeze_negative", [(3, 5)], {"axes": [0, -1]}, op_type="Unsqueeze"),
    Case("identity", [(2, 3, 5)], op_type="Identity"),
    Case("dropout", [(1, 9, 4, 4)], {"ratio": 0.3}, op_type="Dropout"),
]
