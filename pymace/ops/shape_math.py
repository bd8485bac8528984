"""Shape arithmetic: Cast, Equal, Where (Shape, Gather, ConstantOfShape, Range and Expand are ops with kernels:
generate.py, gather.py, tile.py).

Exports compute reshape targets from a tensor's shape at run time (PP-OCR's `Shape → Cast → Slice → Concat →
Reshape`). pymace knows every shape at conversion time, so these ops only ever run in the NumPy reference while
the constant-folding pass evaluates them; they have no kernels, and a model that still holds one is refused."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import TensorInfo

OP_TYPES = ("Cast", "Equal", "Where")
CASES = []  # reference-only: nothing runs on a device

# ONNX TensorProto element types that shape arithmetic meets (onnx.TensorProto.DataType).
ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
               10: "float16", 11: "float64", 12: "uint32", 13: "uint64"}


def _dtype(to: int) -> str:
    if int(to) not in ONNX_DTYPES:
        raise ConvertError(f"Cast to ONNX element type {to} is not supported")
    return ONNX_DTYPES[int(to)]


def infer(*ins: TensorInfo, _op_type: str, **attrs) -> list:
    if _op_type == "Cast":
        return [(ins[0].shape, _dtype(attrs["to"]))]
    shape = tuple(np.broadcast_shapes(*[t.shape for t in ins]))
    return [(shape, "bool" if _op_type == "Equal" else ins[1].dtype)]


def reference(*xs, _op_type: str, **attrs) -> list[np.ndarray]:
    if _op_type == "Cast":
        return [np.asarray(xs[0]).astype(_dtype(attrs["to"]))]
    if _op_type == "Equal":
        return [np.equal(xs[0], xs[1])]
    if _op_type == "Where":
        return [np.where(xs[0], xs[1], xs[2])]
    raise ConvertError(f"shape_math has no op {_op_type}")


def launch(ctx, _op_type: str, **_) -> None:
    raise ConvertError(f"node {ctx.node.name!r} ({_op_type}) is shape arithmetic that should have been folded at "
                       "conversion; its inputs were not constant (convert the model again with fixed input shapes)")
