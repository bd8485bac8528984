"""Shape arithmetic: Shape, Gather, Cast, ConstantOfShape, Range, Equal, Where, Expand.

Exports compute reshape targets from a tensor's shape at run time (PP-OCR's `Shape → Cast → Slice → Concat →
Reshape`). pymace knows every shape at conversion time, so these ops only ever run in the NumPy reference while
the constant-folding pass evaluates them; they have no kernels, and a model that still holds one is refused."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import TensorInfo

OP_TYPES = ("Shape", "Gather", "Cast", "ConstantOfShape", "Range", "Equal", "Where", "Expand")
CASES = []  # reference-only: nothing runs on a device

# ONNX TensorProto element types that shape arithmetic meets (onnx.TensorProto.DataType).
ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
               10: "float16", 11: "float64", 12: "uint32", 13: "uint64"}


def _dtype(to: int) -> str:
    if int(to) not in ONNX_DTYPES:
        raise ConvertError(f"Cast to ONNX element type {to} is not supported")
    return ONNX_DTYPES[int(to)]


def _shape_slice(rank: int, start: int = 0, end: int | None = None) -> slice:
    return slice(start, rank if end is None else end)


def _made_shape(ins, _op_type: str, attrs) -> tuple[tuple[int, ...], str]:
    """Output shape and dtype of Range, ConstantOfShape and Expand from their constant parameters, without
    making the output (a 250-byte model can ask for gigabytes)."""
    if any(t.value is None for t in ins[1 if _op_type == "Expand" else 0:]):
        raise ConvertError(f"{_op_type}: the output shape depends on a tensor that is not constant")
    if _op_type == "ConstantOfShape":
        dims = tuple(int(d) for d in np.asarray(ins[0].value).reshape(-1))
        if any(d < 0 for d in dims):
            raise ConvertError(f"ConstantOfShape of negative dims {list(dims)[:8]}")
        return dims, str(np.dtype(attrs.get("dtype", "float32")))
    if _op_type == "Expand":
        target = tuple(int(d) for d in np.asarray(ins[1].value).reshape(-1))
        return tuple(np.broadcast_shapes(ins[0].shape, target)), ins[0].dtype
    start, limit, delta = (np.asarray(t.value).reshape(-1)[0].item() for t in ins[:3])  # Range
    if delta == 0:
        raise ConvertError("Range with delta 0")
    return (max(0, int(np.ceil((limit - start) / delta))),), ins[0].dtype


def infer(*ins: TensorInfo, _op_type: str, **attrs) -> list:
    if _op_type in ("Range", "ConstantOfShape", "Expand"):
        return [_made_shape(ins, _op_type, attrs)]
    if _op_type in ("Shape", "Gather"):  # only shapes matter: evaluate on zeros
        # an unknown value becomes a zero-strided view of zeros: right shape, no memory
        values = [t.value if t.value is not None else np.broadcast_to(np.zeros((), t.dtype), t.shape) for t in ins]
        y = reference(*values, _op_type=_op_type, **attrs)[0]
        return [(y.shape, str(y.dtype))]
    if _op_type == "Cast":
        return [(ins[0].shape, _dtype(attrs["to"]))]
    shape = tuple(np.broadcast_shapes(*[t.shape for t in ins]))
    return [(shape, "bool" if _op_type == "Equal" else ins[1].dtype)]


def reference(*xs, _op_type: str, **attrs) -> list[np.ndarray]:
    if _op_type == "Shape":
        return [np.array(xs[0].shape[_shape_slice(xs[0].ndim, attrs.get("start", 0), attrs.get("end"))],
                         np.int64)]
    if _op_type == "Gather":
        return [np.take(xs[0], xs[1].astype(np.int64), axis=attrs.get("axis", 0))]
    if _op_type == "Cast":
        return [np.asarray(xs[0]).astype(_dtype(attrs["to"]))]
    if _op_type == "ConstantOfShape":
        # IR form: `value` a number and `dtype` its element type (the ONNX attribute is a one-element tensor)
        return [np.full(tuple(int(d) for d in xs[0]), attrs.get("value", 0.0), attrs.get("dtype", "float32"))]
    if _op_type == "Range":
        return [np.arange(xs[0].item(), xs[1].item(), xs[2].item()).astype(xs[0].dtype)]
    if _op_type == "Equal":
        return [np.equal(xs[0], xs[1])]
    if _op_type == "Where":
        return [np.where(xs[0], xs[1], xs[2])]
    if _op_type == "Expand":
        shape = np.broadcast_shapes(xs[0].shape, tuple(int(d) for d in xs[1]))
        return [np.broadcast_to(xs[0], shape).copy()]
    raise ConvertError(f"shape_math has no op {_op_type}")


def launch(ctx, _op_type: str, **_) -> None:
    if all(r is None or r.const is not None for r in ctx.inputs):
        from ..passes.fold_constants import fold_cap

        made = sum(r.size for r in ctx.outputs) * 8
        raise ConvertError(f"node {ctx.node.name!r} ({_op_type}) makes a constant of about {made} bytes, above the "
                           f"folding cap of {fold_cap()} bytes, and it has no device kernel; raise "
                           "PYMACE_FOLD_MAX_BYTES and convert again to fold it")
    raise ConvertError(f"node {ctx.node.name!r} ({_op_type}) is shape arithmetic that should have been folded at "
                       "conversion; its inputs were not constant (convert the model again with fixed input shapes)")
