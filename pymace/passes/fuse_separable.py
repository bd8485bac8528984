"""Fuse a depthwise Conv into the 1x1 Conv that alone reads it: Conv(dw) → Conv(1x1) becomes one SeparableConv.

A plan-time pass for GPUs (passes.for_device): the fused kernel saves a launch (~8 µs of host time on NVIDIA's
OpenCL at batch 1) and the depthwise output's trip through memory, but recomputes the depthwise conv for every
tile row of output channels, which a CPU would pay for; on PoCL the two convs keep their CPU kernels. It
applies when the depthwise conv (group = C in = C out, constant weights, no residual) has no activation or a
Relu/Clip, its output has no other reader and is no graph output, and the 1x1 conv has stride 1, no padding, one
group and constant weights. Neither may carry a forced `kernel_variant` or another fusion (ops/conv_fusion.py).
The model's graph is not changed: the pass returns a new graph sharing its tensors."""
from __future__ import annotations

from ..ir.graph import Graph, Node
from ..ops import separable_conv
from ..ops.conv_fusion import ATTRS as FUSION_ATTRS
from ..ops.geometry import conv_window
from .rewrite import const, sole_consumer


def _plain(node: Node) -> bool:
    return "kernel_variant" not in node.attrs and not any(k in node.attrs for k in FUSION_ATTRS)


def _depthwise(graph: Graph, node: Node | None) -> bool:
    if node is None or node.op_type != "Conv" or node.attrs.get("residual") or not _plain(node):
        return False
    x, w = graph.tensors[node.inputs[0]], graph.tensors[node.inputs[1]]
    bias = node.inputs[2] if len(node.inputs) > 2 else ""
    return (len(x.shape) == 4 and w.is_const and (not bias or const(graph, bias) is not None)
            and len(node.inputs) <= 3 and node.attrs.get("group", 1) == x.shape[1] == w.shape[0]
            and w.shape[1] == 1 and node.attrs.get("activation") in separable_conv.DW_ACTIVATIONS)


def _pointwise(graph: Graph, node: Node) -> bool:
    if node.op_type != "Conv" or not _plain(node) or node.attrs.get("group", 1) != 1:
        return False
    x, w = graph.tensors[node.inputs[0]], graph.tensors[node.inputs[1]]
    a = node.attrs
    win = conv_window(x.shape, w.shape, a.get("group", 1), a.get("kernel_shape"), a.get("strides"), a.get("pads"),
                      a.get("dilations"), a.get("auto_pad", "NOTSET"))
    return len(x.shape) == 4 and w.is_const and win.kernel == (1, 1) and win.strides == (1, 1) and not any(win.pads)


def _fused(graph: Graph, dw: Node, pw: Node) -> Node:
    a = dw.attrs
    x, w = graph.tensors[dw.inputs[0]], graph.tensors[dw.inputs[1]]
    win = conv_window(x.shape, w.shape, a.get("group", 1), a.get("kernel_shape"), a.get("strides"), a.get("pads"),
                      a.get("dilations"), a.get("auto_pad", "NOTSET"))
    attrs = {"kernel_shape": list(win.kernel), "strides": list(win.strides), "pads": list(win.pads),
             "dilations": list(win.dilations)}
    if a.get("activation"):
        attrs["dw_activation"] = a["activation"]
        attrs["dw_activation_params"] = list(a.get("activation_params", []))
    attrs |= {key: pw.attrs[key] for key in ("activation", "activation_params", "residual") if key in pw.attrs}
    bias = dw.inputs[2] if len(dw.inputs) > 2 else ""
    return Node(f"{dw.name}+{pw.name}", "SeparableConv", [dw.inputs[0], dw.inputs[1], bias, *pw.inputs[1:]],
                list(pw.outputs), attrs)


def run(graph: Graph) -> Graph:
    producers = graph.producers()
    fused: dict[int, Node] = {}  # id of the 1x1 conv → its SeparableConv
    absorbed: set[int] = set()  # ids of the depthwise convs
    for pw in graph.nodes:
        if pw.op_type != "Conv" or not pw.inputs or id(pw) in absorbed:
            continue
        dw = producers.get(pw.inputs[0])
        if (_depthwise(graph, dw) and id(dw) not in fused  # a conv is one pair's depthwise or 1x1, not both
                and sole_consumer(graph, pw.inputs[0], pw) and pw.inputs.count(pw.inputs[0]) == 1  # not also R
                and _pointwise(graph, pw)):
            fused[id(pw)] = _fused(graph, dw, pw)
            absorbed.add(id(dw))
    if not fused:
        return graph
    nodes = [fused.get(id(n), n) for n in graph.nodes if id(n) not in absorbed]
    gone = {n.outputs[0] for n in graph.nodes if id(n) in absorbed}
    tensors = {name: t for name, t in graph.tensors.items() if name not in gone}
    out = Graph(graph.name, nodes, tensors, list(graph.inputs), list(graph.outputs), graph.metadata)
    out.verify()
    return out
