"""Softmax with opset-13 semantics: normalise along one `axis` (default -1), whatever its position.

The tensor is viewed as (outer, K, inner) around the axis. The usual case, the last axis with a long row, gets
a work-group per row (max and sum as tree reductions in local memory); otherwise each work-item normalises one
(outer, inner) column, neighbours reading neighbouring columns."""
from __future__ import annotations

import numpy as np

from .base import Case, TensorInfo, check_axis
from .reduce import WG_MAX_ROWS, WG_MIN_K

OP_TYPES = ("Softmax",)


def infer(x: TensorInfo, _op_type=None, axis=-1, **attrs):
    check_axis(axis, len(x.shape), "Softmax")
    return [(x.shape, x.dtype)]


def reference(x, _op_type=None, axis=-1, **attrs):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return [(e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)]


def launch(ctx, _op_type=None, axis=-1, **attrs):
    x, y = ctx.inputs[0], ctx.outputs[0]
    axis %= len(x.shape)
    outer, k, inner = (int(np.prod(x.shape[:axis])), x.shape[axis], int(np.prod(x.shape[axis + 1:])))
    rows = outer * inner
    args = [x, y, np.int32(k), np.int32(inner), np.int32(rows)]
    if k >= WG_MIN_K and (inner == 1 or rows < WG_MAX_ROWS):
        wg = 1 << (min(256, ctx.device.max_work_group_size, k).bit_length() - 1)
        ctx.kernel("softmax", "softmax_wg", (wg, rows), args, options=(f"-DWG={wg}",), lws=(wg, 1))
    else:
        ctx.kernel("softmax", "softmax_serial", (rows,), args)


CASES = [
    Case("last_axis_short", [(6, 10)]),
    Case("last_axis_long", [(3, 1000)]),
    Case("last_axis_odd_long", [(2, 3, 333)], attrs={"axis": -1}),
    Case("channels_nchw", [(2, 5, 7, 3)], attrs={"axis": 1}),
    Case("channels_many", [(1, 130, 2, 2)], attrs={"axis": 1}),
    Case("first_axis", [(4, 3, 5)], attrs={"axis": 0}),
    Case("middle_axis", [(2, 3, 4, 5)], attrs={"axis": 2}),
    Case("single_element_axis", [(5, 1)]),
    Case("large_logits", [np.random.default_rng(3).uniform(-60, 60, (4, 77)).astype(np.float32)]),
]
