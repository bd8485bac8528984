"""ONNX importers of the ops with a window (frontends/onnx.py registers IMPORTERS): Conv, ConvTranspose, MaxPool
and AveragePool. ops/geometry resolves kernel_shape, strides, pads, dilations and auto_pad into the explicit
geometry the IR holds; SAME padding with a stride stays `auto_pad` when the model has symbolic dims. A 1-D Conv
runs as a 2-D Conv of height 1 between alias reshapes; ConvTranspose's `output_shape` becomes the pads (and extra
output padding) that give exactly that shape. onnx_quant's QLinearConv and ConvInteger use the geometry helpers
(resolve_window, spatial_attrs, explicit_attrs)."""
from __future__ import annotations

from ..errors import ConvertError
from ..ops import geometry


def resolve_window(n, resolve, *args, **kwargs):
    """`resolve` (an ops/geometry window function) for node `n`, its errors naming the node."""
    try:
        return resolve(*args, **kwargs)
    except ConvertError as e:
        raise ConvertError(f"node {n.name!r} ({n.op_type}): {e}") from None


def spatial_attrs(n) -> dict:
    """The node's geometry attributes for ops/geometry (auto_pad resolved there)."""
    return {a: n.get(a) for a in ("kernel_shape", "strides", "pads", "dilations")} | {
        "auto_pad": n.get("auto_pad", "NOTSET")}


def explicit_attrs(window) -> dict:
    """The IR's geometry attributes: explicit kernel_shape, strides, pads and dilations."""
    return {"kernel_shape": list(window.kernel), "strides": list(window.strides), "pads": list(window.pads),
            "dilations": list(window.dilations)}


def _same(imp, n) -> dict:
    """SAME padding with a stride depends on the input's size: with symbolic dims, `auto_pad` stays, and each
    concrete shape's plan resolves it (ir/symbolic.resolve)."""
    auto_pad = n.get("auto_pad", "NOTSET")
    strided = any(s > 1 for s in n.get("strides") or [])
    return {"auto_pad": auto_pad} if imp.declared and auto_pad in ("SAME_UPPER", "SAME_LOWER") and strided else {}


def _conv(imp, n) -> None:
    group = n.get("group", 1)
    window = resolve_window(n, geometry.conv_window, imp.shape(n), imp.shape(n, 1), group, **spatial_attrs(n))
    attrs = explicit_attrs(window) | {"group": int(group)} | _same(imp, n)
    if len(window.kernel) == 1:  # Conv1d runs as a 2-D Conv of height 1 between alias reshapes
        _conv1d(imp, n, attrs)
        return
    imp.emit("Conv", n.inputs, n.outputs, attrs, n.name)


def _conv1d(imp, n, attrs: dict) -> None:
    (p0, p1), one = attrs["pads"], [1]
    attrs = attrs | {"kernel_shape": one + attrs["kernel_shape"], "strides": one + attrs["strides"],
                     "pads": [0, p0, 0, p1], "dilations": one + attrs["dilations"]}  # auto_pad, group as they are
    x, w = imp.temp(n, "x2d"), imp.temp(n, "w2d")
    imp.emit("Unsqueeze", [n.input(0)], [x], {"axes": [2]}, f"{n.name}/to_2d")
    imp.emit("Unsqueeze", [n.input(1)], [w], {"axes": [2]}, f"{n.name}/w_to_2d")
    y = imp.temp(n, "y2d")
    imp.emit("Conv", [x, w, *n.inputs[2:]], [y], attrs, n.name)
    imp.emit("Squeeze", [y], n.outputs, {"axes": [2]}, f"{n.name}/to_1d")


def _conv_transpose(imp, n) -> None:
    kernel = list(n.get("kernel_shape", imp.shape(n, 1)[2:]))
    rank = len(kernel)
    attrs = {"kernel_shape": kernel, "strides": list(n.get("strides", [1] * rank)),
             "dilations": list(n.get("dilations", [1] * rank)), "group": int(n.get("group", 1)),
             "output_padding": list(n.get("output_padding", [0] * rank)),
             "pads": list(n.get("pads", [0] * (2 * rank)))}
    size = imp.shape(n)[2:]
    target = n.get("output_shape")
    if target is None and n.get("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
        target = [x * s for x, s in zip(size, attrs["strides"])]
    if n.get("auto_pad") == "VALID":
        attrs["pads"] = [0] * (2 * rank)
    if target is not None:  # pads (and extra output padding) that give exactly `output_shape`
        target = list(target)[-rank:]
        full = [s * (x - 1) + op + (k - 1) * d + 1 for x, s, op, k, d in
                zip(size, attrs["strides"], attrs["output_padding"], kernel, attrs["dilations"])]
        total = [f - t for f, t in zip(full, target)]
        attrs["output_padding"] = [op + max(0, -t) for op, t in zip(attrs["output_padding"], total)]
        total = [max(0, t) for t in total]
        lower = n.get("auto_pad") == "SAME_LOWER"
        begin = [t - t // 2 if lower else t // 2 for t in total]
        attrs["pads"] = begin + [t - b for t, b in zip(total, begin)]
    imp.emit("ConvTranspose", n.inputs, n.outputs, attrs, n.name)


def _pool(imp, n) -> None:
    if len(n.outputs) > 1 and n.outputs[1]:
        raise ConvertError(f"node {n.name!r} ({n.op_type}): the Indices output is not supported")
    ceil_mode = int(n.get("ceil_mode", 0))
    window = resolve_window(n, geometry.pool_window, imp.shape(n), ceil_mode=ceil_mode, **spatial_attrs(n))
    attrs = explicit_attrs(window) | {"ceil_mode": ceil_mode} | _same(imp, n)
    if n.op_type == "AveragePool":
        attrs["count_include_pad"] = int(n.get("count_include_pad", 0))
    imp.emit(n.op_type, [n.input(0)], [n.outputs[0]], attrs, n.name)


IMPORTERS = {"Conv": _conv, "ConvTranspose": _conv_transpose, "MaxPool": _pool, "AveragePool": _pool}
