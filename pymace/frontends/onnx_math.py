"""ONNX importers of the math families (frontends/onnx.py registers IMPORTERS): reductions with `axes` as an
attribute or an input by opset, LayerNormalization's optional outputs, GroupNormalization's opset-18 per-group
scale, CastLike, and the attribute defaults of InstanceNormalization and LRN. The elementwise, comparison and
variadic ops need no importer: their ONNX form is the IR's."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..errors import ConvertError


def axes_param(imp, n, attr_until: int):
    """`axes` as an attribute (opset < attr_until) or as input 1."""
    axes = n.get("axes") if imp.opset < attr_until else imp.const(n, 1, "axes")
    return None if axes is None else [int(a) for a in np.asarray(axes).reshape(-1)]


def with_defaults(**defaults):
    """An importer that copies the node and writes ONNX's attribute defaults explicitly."""
    def importer(imp, n) -> None:
        imp.emit(n.op_type, n.inputs, n.outputs, defaults | dict(n.attrs), n.name)
    return importer


def _reduce(imp, n) -> None:
    """Reduce*: `axes` an attribute until opset 18 (ReduceSum: 13), then input 1. Without axes every axis is reduced,
    unless noop_with_empty_axes: then nothing is (an Identity where the reduction of one element is itself)."""
    axes = axes_param(imp, n, 13 if n.op_type == "ReduceSum" else 18)
    attrs = {"axes": axes or [], "keepdims": int(n.get("keepdims", 1))}
    if not axes and n.get("noop_with_empty_axes", 0):
        if n.op_type in ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd"):
            imp.emit("Identity", [n.input(0)], n.outputs, {}, n.name)
            return
        attrs["noop_with_empty_axes"] = 1
    elif not axes:
        attrs["axes"] = list(range(len(imp.shape(n))))
    imp.emit(n.op_type, [n.input(0)], n.outputs, attrs, n.name)


def _layer_norm(imp, n) -> None:
    """LayerNormalization with explicit defaults; an omitted Mean between Y and InvStdDev gets a name of its own."""
    outputs = list(n.outputs)
    while len(outputs) > 1 and not outputs[-1]:
        outputs.pop()
    outputs = [o or imp.temp(n, f"unused{k}") for k, o in enumerate(outputs)]
    attrs = {"axis": int(n.get("axis", -1)), "epsilon": float(n.get("epsilon", 1e-5))}
    imp.emit("LayerNormalization", n.inputs, outputs, attrs, n.name)


def _group_norm(imp, n) -> None:
    """GroupNormalization: before opset 21 scale and bias hold one value per group; the IR's are per channel."""
    groups, channels = int(n.get("num_groups")), imp.shape(n)[1]
    inputs = list(n.inputs)
    if imp.opset < 21 and groups != channels:
        for k, what in ((1, "scale"), (2, "bias")):
            per_group = imp.const(n, k, what)
            if per_group is None or per_group.shape != (groups,) or channels % groups:
                raise ConvertError(f"node {n.name!r} (GroupNormalization): {what} must be a constant of "
                                   f"{groups} values that divide {channels} channels")
            inputs[k] = imp.temp(n, f"{what}_per_channel")
            imp.add_const(inputs[k], np.repeat(per_group, channels // groups))
    attrs = {"num_groups": groups, "epsilon": float(n.get("epsilon", 1e-5))}
    imp.emit("GroupNormalization", inputs, n.outputs, attrs, n.name)


def _cast_like(imp, n) -> None:
    """CastLike(x, like) is Cast to `like`'s element type."""
    like = imp.info(n, n.input(1)).dtype
    if like == imp.info(n, n.input(0)).dtype:
        imp.emit("Identity", [n.input(0)], n.outputs, {}, n.name)
        return
    to = next((k for k, v in ops.cast.DTYPES.items() if v == like), None)
    imp.emit("Cast", [n.input(0)], n.outputs, {"to": to}, n.name)


IMPORTERS = {
    **{op: _reduce for op in ops.reduce.OP_TYPES},
    "LayerNormalization": _layer_norm, "GroupNormalization": _group_norm, "CastLike": _cast_like,
    "InstanceNormalization": with_defaults(epsilon=1e-5), "LRN": with_defaults(alpha=1e-4, beta=0.75, bias=1.0),
}
