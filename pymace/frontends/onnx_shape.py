"""ONNX importers of the ops that compute or change shapes (frontends/onnx.py registers IMPORTERS): Shape, Size
and ConstantOfShape; Reshape, Squeeze / Unsqueeze, Split, Pad, Slice, Resize / Upsample and Transpose. Their
static parameters move from attributes to inputs between opsets; each importer reads them either way and writes
the IR's attributes. Every shape is known at import, so Shape and Size are constants, unless the model has
symbolic dims: then Shape stays in the graph, and a Reshape, Slice or Resize whose parameters are computed from it
keeps them as inputs (the dynamic forms of ir/symbolic.py)."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..errors import ConvertError
from .onnx_math import axes_param


def _reshape(imp, n) -> None:
    if imp.opset >= 5 and imp.symbolic(n, 1):  # the dynamic form (ir/symbolic.py)
        imp.emit("Reshape", n.inputs[:2], n.outputs, {"allowzero": int(n.get("allowzero", 0))}, n.name)
        return
    shape = n.get("shape") if imp.opset < 5 else imp.const(n, 1, "shape")
    attrs = {"shape": [int(d) for d in shape], "allowzero": int(n.get("allowzero", 0))}
    imp.emit("Reshape", [n.input(0)], n.outputs, attrs, n.name)


def _squeeze(imp, n) -> None:
    axes = axes_param(imp, n, 13)
    if axes is None:  # squeeze every dim of size 1, made explicit
        axes = [i for i, d in enumerate(imp.shape(n)) if d == 1]
    imp.emit(n.op_type, [n.input(0)], n.outputs, {"axes": axes}, n.name)


def _split(imp, n) -> None:
    shape, axis = imp.shape(n), int(n.get("axis", 0))
    split = n.get("split") if imp.opset < 13 else imp.const(n, 1, "split")
    if split is None:  # equal pieces (the last smaller when num_outputs does not divide the axis)
        split = ops.split.sizes(shape[axis], None, int(n.get("num_outputs", len(n.outputs))))
    imp.emit("Split", [n.input(0)], n.outputs, {"axis": axis, "split": [int(s) for s in split]}, n.name)


def _pad(imp, n) -> None:
    rank = len(imp.shape(n))
    if imp.opset < 11:
        pads, value = list(n.get("pads")), float(n.get("value", 0.0))
    else:
        pads = [int(p) for p in imp.const(n, 1, "pads")]
        v = imp.const(n, 2, "constant_value")
        value = 0.0 if v is None or v.size == 0 else float(v.reshape(-1)[0])
        axes = imp.const(n, 3, "axes")
        if axes is not None:  # opset 18: pads for the listed axes only
            full = [0] * (2 * rank)
            for j, a in enumerate(int(a) % rank for a in axes):
                full[a], full[a + rank] = pads[j], pads[j + len(axes)]
            pads = full
    imp.emit("Pad", [n.input(0)], n.outputs, {"pads": [int(p) for p in pads], "mode": n.get("mode", "constant"),
                                              "value": value}, n.name)


def _slice(imp, n) -> None:
    if imp.opset >= 10 and imp.symbolic(n, 1, 2, 3, 4):  # the dynamic form (ir/symbolic.py)
        imp.emit("Slice", n.inputs[:5], n.outputs, {}, n.name)
        return
    if imp.opset < 10:
        starts, ends, axes, steps = n.get("starts"), n.get("ends"), n.get("axes"), None
    else:
        starts, ends = imp.const(n, 1, "starts"), imp.const(n, 2, "ends")
        axes, steps = imp.const(n, 3, "axes"), imp.const(n, 4, "steps")
    count = len(starts)
    rank = len(imp.shape(n))
    attrs = {"starts": [int(s) for s in starts], "ends": [int(e) for e in ends],
             "axes": [int(a) % rank for a in axes] if axes is not None else list(range(count)),
             "steps": [int(s) for s in steps] if steps is not None else [1] * count}
    imp.emit("Slice", [n.input(0)], n.outputs, attrs, n.name)


def _resize(imp, n) -> None:
    """Resize (opset 10: X, scales; 11+: X, roi, scales, sizes) and Upsample (scales attribute or input)."""
    mode = {"bilinear": "linear"}.get(n.get("mode", "nearest"), n.get("mode", "nearest"))
    if mode not in ("nearest", "linear"):
        raise ConvertError(f"node {n.name!r} ({n.op_type}): mode {mode!r} is not supported (nearest, linear)")
    if n.get("antialias", 0) or n.get("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise ConvertError(f"node {n.name!r} (Resize): antialias and keep_aspect_ratio_policy are not supported")
    legacy = n.op_type == "Upsample" or imp.opset < 11
    attrs = {"mode": mode,
             "coordinate_transformation_mode": "asymmetric" if legacy else
             n.get("coordinate_transformation_mode", "half_pixel"),
             "nearest_mode": "floor" if legacy else n.get("nearest_mode", "round_prefer_floor")}
    if attrs["coordinate_transformation_mode"] == "tf_crop_and_resize":
        raise ConvertError(f"node {n.name!r} (Resize): tf_crop_and_resize is not supported")
    if not legacy and imp.symbolic(n, 2, 3) and n.get("axes") is None:  # the dynamic form (ir/symbolic.py)
        imp.emit("Resize", [n.input(0), "", n.input(2), n.input(3)], n.outputs, attrs, n.name)
        return
    if n.op_type == "Upsample" and imp.opset < 9:
        scales, sizes = n.get("scales"), None
    else:
        scales = imp.const(n, 1 if legacy else 2, "scales")
        sizes = None if legacy else imp.const(n, 3, "sizes")
    rank = len(imp.shape(n))
    values = sizes if sizes is not None and sizes.size else scales
    key = "sizes" if values is sizes else "scales"
    if values is None:
        raise ConvertError(f"node {n.name!r} (Resize): neither scales nor sizes given")
    values = [float(v) if key == "scales" else int(v) for v in np.asarray(values).reshape(-1)]
    if n.get("axes") is not None:  # opset 18: values for the listed axes only
        full = [1.0] * rank if key == "scales" else list(imp.shape(n))
        for a, v in zip(n.get("axes"), values):
            full[int(a) % rank] = v
        values = full
    imp.emit("Resize", [n.input(0)], n.outputs, attrs | {key: values}, n.name)

def _transpose(imp, n) -> None:
    perm = n.get("perm", list(range(len(imp.shape(n))))[::-1])
    imp.emit("Transpose", n.inputs, n.outputs, {"perm": [int(p) for p in perm]}, n.name)


def _shape(imp, n) -> None:
    """Every shape is known at import, so Shape is a constant — unless the model has symbolic dims."""
    if imp.declared and imp.info(n, n.input(0)).value is None:
        imp.emit("Shape", n.inputs[:1], n.outputs[:1], {k: int(v) for k, v in n.attrs.items()
                                                        if k in ("start", "end")}, n.name)
        return
    shape = np.array(imp.shape(n), np.int64)
    imp.add_const(n.outputs[0], shape[n.get("start", 0):n.get("end", len(shape))])


def _size(imp, n) -> None:
    """Size (the element count) is a constant for the same reason."""
    imp.add_const(n.outputs[0], np.array(int(np.prod(imp.shape(n), dtype=np.int64)), np.int64))


def _constant_of_shape(imp, n) -> None:
    value = n.get("value", np.zeros(1, np.float32))
    attrs = {"value": value.reshape(-1)[0].item(), "dtype": str(value.dtype)}
    imp.emit("ConstantOfShape", n.inputs, n.outputs, attrs, n.name)


IMPORTERS = {
    "Reshape": _reshape, "Squeeze": _squeeze, "Unsqueeze": _squeeze, "Split": _split, "Pad": _pad,
    "Slice": _slice, "Resize": _resize, "Upsample": _resize, "Transpose": _transpose,
    "Shape": _shape, "Size": _size, "ConstantOfShape": _constant_of_shape,
}
