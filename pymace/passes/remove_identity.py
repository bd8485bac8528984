"""Remove Identity, Dropout (inference), Pads that pad nothing and Slices that keep every element (Swin's crop of
its padding to the size it already has, twice a block): their consumers read the input directly."""
from __future__ import annotations

from ..errors import ConvertError
from ..ir.graph import Graph
from ..ops import slice as slice_op
from .rewrite import bypass


def _keeps_everything(graph: Graph, node) -> bool:
    """A Slice whose every axis starts at 0, steps by 1 and keeps the whole dim (a bad one is left for the op's
    own check to refuse)."""
    shape = graph.tensors[node.inputs[0]].shape
    if shape is None or not all(isinstance(d, int) for d in shape) or len(node.inputs) != 1:
        return False
    a = node.attrs
    try:
        axes = slice_op.plan(shape, a.get("starts"), a.get("ends"), a.get("axes"), a.get("steps"))
    except (ConvertError, TypeError):
        return False
    return all(axis == (0, 1, d) for axis, d in zip(axes, shape))


def _is_identity(graph: Graph, node) -> bool:
    if node.op_type == "Pad":  # all-zero pads (any mode): e.g. a zero Pad before a MaxPool, which fold_pad keeps
        return not any(node.attrs.get("pads", [1]))
    if node.op_type == "Slice":
        return _keeps_everything(graph, node)
    return node.op_type in ("Identity", "Dropout")


def run(graph: Graph) -> Graph:
    for node in [n for n in graph.nodes if _is_identity(graph, n)]:
        bypass(graph, node, node.inputs[0])
    return graph
