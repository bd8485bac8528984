"""Softmax, LogSoftmax and Hardmax with opset-13 semantics: along one `axis` (default -1), whatever its position
(the ONNX frontend rewrites older opsets' flatten-at-axis semantics with Reshapes).

The tensor is viewed as (outer, K, inner) around the axis. The usual case, the last axis with a long row, gets
a work-group per row (max and sum as tree reductions in local memory); otherwise each work-item normalises one
(outer, inner) column, neighbours reading neighbouring columns. LogSoftmax is the same kernels built with
-DLOG_SOFTMAX; Hardmax (1 at the first maximum, 0 elsewhere) always runs the serial kernel with -DHARDMAX."""
from __future__ import annotations

import numpy as np

from .base import Case, TensorInfo, check_axis, need_dtype
from .reduce import WG_MAX_ROWS, WG_MIN_K

OP_TYPES = ("Softmax", "LogSoftmax", "Hardmax")


def infer(x: TensorInfo, _op_type="Softmax", axis=-1, **attrs):
    need_dtype(_op_type, x, "f")
    check_axis(axis, len(x.shape), _op_type)
    return [(x.shape, x.dtype)]


def reference(x, _op_type="Softmax", axis=-1, **attrs):
    if _op_type == "Hardmax":
        first = np.expand_dims(np.argmax(x, axis=axis), axis)
        y = np.zeros_like(x)
        np.put_along_axis(y, first, 1, axis=axis)
        return [y]
    shifted = x - x.max(axis=axis, keepdims=True)
    if _op_type == "LogSoftmax":
        return [(shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))).astype(x.dtype)]
    e = np.exp(shifted)
    return [(e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)]


def launch(ctx, _op_type="Softmax", axis=-1, **attrs):
    x, y = ctx.inputs[0], ctx.outputs[0]
    axis %= len(x.shape)
    outer, k, inner = (int(np.prod(x.shape[:axis])), x.shape[axis], int(np.prod(x.shape[axis + 1:])))
    rows = outer * inner
    args = [x, y, np.int32(k), np.int32(inner), np.int32(rows)]
    mode = {"LogSoftmax": ("-DLOG_SOFTMAX=1",), "Hardmax": ("-DHARDMAX=1",)}.get(_op_type, ())
    if not ctx.device.is_gpu and inner == 1 and k >= 8 and _op_type != "Hardmax":  # rows in vectors
        ctx.kernel("softmax", "softmax_rows_cpu", (rows,), args, options=mode, lws=(1,))
    elif k >= WG_MIN_K and (inner == 1 or rows < WG_MAX_ROWS) and _op_type != "Hardmax":
        wg = 1 << (min(256, ctx.device.max_work_group_size, k).bit_length() - 1)
        ctx.kernel("softmax", "softmax_wg", (wg, rows), args, options=(f"-DWG={wg}",) + mode, lws=(wg, 1))
    else:
        ctx.kernel("softmax", "softmax_serial", (rows,), args, options=mode)


CASES = [
    Case("last_axis_short", [(6, 10)]),
    Case("last_axis_long", [(3, 1000)]),
    Case("last_axis_odd_long", [(2, 3, 333)], attrs={"axis": -1}),
    Case("channels_nchw", [(2, 5, 7, 3)], attrs={"axis": 1}),
    Case("channels_many", [(1, 130, 2, 2)], attrs={"axis": 1}),
    Case("first_axis", [(4, 3, 5)], attrs={"axis": 0}),
    Case("middle_axis", [(2, 3, 4, 5)], attrs={"axis": 2}),
    Case("single_element_axis", [(5, 1)]),
    Case("large_logits", [lambda rng: rng.uniform(-60, 60, (4, 77)).astype(np.float32)]),
    Case("log_last_axis_long", [(3, 300)], op_type="LogSoftmax"),
    Case("log_middle_axis", [(2, 7, 3, 5)], op_type="LogSoftmax", attrs={"axis": 1}),
    Case("log_first_axis", [(5, 4, 3)], op_type="LogSoftmax", attrs={"axis": -3}),
    Case("log_large_logits", [lambda rng: rng.uniform(-60, 60, (5, 33)).astype(np.float32)],
         op_type="LogSoftmax"),
    Case("hardmax_last", [(4, 9)], op_type="Hardmax"),
    Case("hardmax_long_row", [lambda rng: (rng.permuted(np.tile(np.arange(500), (2, 1)), axis=1) / 10 - 25).astype(
        np.float32)], op_type="Hardmax"),  # distinct values stay distinct in fp16 storage
    Case("hardmax_axis1_ties", [lambda rng: rng.integers(0, 3, (2, 6, 3, 4)).astype(np.float32)],
         op_type="Hardmax", attrs={"axis": 1}),
]
