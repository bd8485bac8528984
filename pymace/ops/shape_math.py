"""Shape arithmetic: Shape, Gather, ConstantOfShape, Range, Expand (Cast, Equal, Where: cast.py, compare.py, where.py).

Exports compute reshape targets from a tensor's shape at run time (PP-OCR's `Shape → Cast → Slice → Concat →
Reshape`). pymace knows every shape at conversion time, so these ops only ever run in the NumPy reference while
the constant-folding pass evaluates them; they have no kernels, and a model that still holds one is refused."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import TensorInfo

OP_TYPES = ("Shape", "Gather", "ConstantOfShape", "Range", "Expand")
CASES = []  # reference-only: nothing runs on a device

def _shape_slice(rank: int, start: int = 0, end: int | None = None) -> slice:
    return slice(start, rank if end is None else end)


def infer(*ins: TensorInfo, _op_type: str, **attrs) -> list:
    if _op_type in ("Shape", "Gather", "Range", "ConstantOfShape", "Expand"):
        # an unknown value becomes a zero-strided view of zeros: right shape, no memory
        values = [t.value if t.value is not None else np.broadcast_to(np.zeros((), t.dtype), t.shape) for t in ins]
        if _op_type in ("Shape", "Gather"):  # only shapes matter: evaluate on zeros
            y = reference(*values, _op_type=_op_type, **attrs)[0]
            return [(y.shape, str(y.dtype))]
        if any(t.value is None for t in ins[1 if _op_type == "Expand" else 0:]):
            raise ConvertError(f"{_op_type}: the output shape depends on a tensor that is not constant")
        y = reference(*values, _op_type=_op_type, **attrs)[0]
        return [(y.shape, str(y.dtype))]
    raise ConvertError(f"shape_math has no op {_op_type}")


def reference(*xs, _op_type: str, **attrs) -> list[np.ndarray]:
    if _op_type == "Shape":
        return [np.array(xs[0].shape[_shape_slice(xs[0].ndim, attrs.get("start", 0), attrs.get("end"))],
                         np.int64)]
    if _op_type == "Gather":
        return [np.take(xs[0], xs[1].astype(np.int64), axis=attrs.get("axis", 0))]
    if _op_type == "ConstantOfShape":
        # IR form: `value` a number and `dtype` its element type (the ONNX attribute is a one-element tensor)
        return [np.full(tuple(int(d) for d in xs[0]), attrs.get("value", 0.0), attrs.get("dtype", "float32"))]
    if _op_type == "Range":
        return [np.arange(xs[0].item(), xs[1].item(), xs[2].item()).astype(xs[0].dtype)]
    if _op_type == "Expand":
        shape = np.broadcast_shapes(xs[0].shape, tuple(int(d) for d in xs[1]))
        return [np.broadcast_to(xs[0], shape).copy()]
    raise ConvertError(f"shape_math has no op {_op_type}")


def launch(ctx, _op_type: str, **_) -> None:
    raise ConvertError(f"node {ctx.node.name!r} ({_op_type}) is shape arithmetic that should have been folded at "
                       "conversion; its inputs were not constant (convert the model again with fixed input shapes)")
