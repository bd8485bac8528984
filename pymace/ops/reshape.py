"""Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout (identity at inference) change only the shape, so
the runtime gives the output input 0's buffer (ALIAS) and no kernel runs. Dtype-agnostic: the frontends fold
int64 shape arithmetic through these references."""
from __future__ import annotations

import numpy as np

from .base import Case, TensorInfo, ints

OP_TYPES = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout")
ALIAS = True


def out_shape(shape: tuple[int, ...], _op_type: str, shape_=None, allowzero=0, axis=1, axes=None) -> tuple:
    if _op_type == "Reshape":
        want = [d if d != 0 or allowzero else shape[k] for k, d in enumerate(ints(shape_))]
        if -1 in want:  # the one inferred dim takes what the others leave
            known = int(np.prod([d for d in want if d != -1], dtype=np.int64))
            want[want.index(-1)] = int(np.prod(shape, dtype=np.int64)) // known if known else 0
        return tuple(want)
    if _op_type == "Flatten":
        axis = axis + len(shape) if axis < 0 else axis
        return (int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis:], dtype=np.int64)))
    if _op_type == "Squeeze":
        ones = {k for k, d in enumerate(shape) if d == 1}
        drop = {a % len(shape) for a in ints(axes)} if axes is not None else ones
        return tuple(d for k, d in enumerate(shape) if k not in drop)
    if _op_type == "Unsqueeze":
        rank = len(shape) + len(ints(axes))
        new, rest = {a % rank for a in ints(axes)}, iter(shape)
        return tuple(1 if k in new else next(rest) for k in range(rank))
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
