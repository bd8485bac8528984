"""Cast (`to`: an ONNX element type number) where it is not folded at conversion. On the device float tensors are
held in the storage type and integer and bool ones in int32 buffers (docs/ir.md), so a cast converts between the
two: float to integer truncates toward zero, anything to bool gives 0 / 1, float to float16 rounds to half
precision (the storage type may be wider); the rest keeps the value."""
from __future__ import annotations

import numpy as np

from ..errors import ConvertError
from .base import Case, TensorInfo, uniform

OP_TYPES = ("Cast",)
# ONNX TensorProto element types (onnx.TensorProto.DataType) that have a NumPy dtype
DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
          10: "float16", 11: "float64", 12: "uint32", 13: "uint64"}


def target(to) -> str:
    if to is None or int(to) not in DTYPES:
        raise ConvertError(f"Cast to ONNX element type {to} is not supported (supported: "
                           f"{', '.join(f'{k} {v}' for k, v in DTYPES.items())})")
    return DTYPES[int(to)]


def infer(x: TensorInfo, _op_type=None, to=None, **attrs):
    if np.dtype(x.dtype).kind not in "fiub":
        raise ConvertError(f"Cast: input dtype {x.dtype} is not supported")
    return [(x.shape, target(to))]


def reference(x, _op_type=None, to=None, **attrs):
    with np.errstate(invalid="ignore", over="ignore"):
        return [np.asarray(x).astype(target(to))]


def launch(ctx, _op_type=None, to=None, **attrs):
    x, y = ctx.inputs[0], ctx.outputs[0]
    source, dest = np.dtype(x.dtype), np.dtype(target(to))
    options = [f"-DX_INT={int(source.kind in 'iub')}", f"-DY_INT={int(dest.kind in 'iub')}"]
    if dest.kind == "b":
        options.append("-DTO_BOOL=1")
    elif dest == np.float16 and source.kind == "f" and source.itemsize > 2:
        options.append("-DTO_HALF=1")
    n = int(np.prod(y.shape))
    ctx.kernel("cast", "cast", (n,), [x, y, np.int32(n)], options=tuple(options))


def _exact16(low, high, shape):
    """Fresh values fp16 storage holds exactly: truncation sees the same input in either storage type."""
    return lambda rng: rng.uniform(low, high, shape).astype(np.float16).astype(np.float32)


CASES = [  # the first one has defined results for NaN and ±inf (a NaN cast to an integer is undefined in ONNX)
    Case("float_to_half", [uniform(-3, 3, (2, 3, 11))], attrs={"to": 10}),
    Case("float_to_int64", [_exact16(-50, 50, (3, 5, 7))], attrs={"to": 7}),
    Case("float_to_int32_odd", [_exact16(-9, 9, (13,))], attrs={"to": 6}),
    Case("float_to_bool", [lambda rng: rng.integers(-2, 3, (4, 9)).astype(np.float32)], attrs={"to": 9}),
    Case("float_to_half_range", [lambda rng: (rng.standard_normal((4, 50)) * 10.0 ** rng.integers(-7, 5, (4, 50))
                                              ).astype(np.float32)], attrs={"to": 10}),
    Case("int_to_float", [uniform(-300, 300, (6, 7), np.int64)], attrs={"to": 1}),
    Case("bool_to_float", [uniform(0, 1, (5, 5), bool)], attrs={"to": 1}),
    Case("int64_to_int32", [uniform(-1000, 1000, (3, 4), np.int64)], attrs={"to": 6}),
    Case("int_to_bool", [uniform(-2, 3, (5, 6), np.int64)], attrs={"to": 9}),
    Case("bool_to_int64", [uniform(0, 1, (7, 3), bool)], attrs={"to": 7}),
    Case("large_int_to_float", [uniform(-60000, 60000, (9,), np.int32)], attrs={"to": 1}),
]
