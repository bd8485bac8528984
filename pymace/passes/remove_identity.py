"""Remove Identity, Dropout (inference), Pads that pad nothing and Slices that keep every element (Swin's crop of
its padding to the size it already has, twice a block): their consumers read the input directly."""
from __future__ import annotations

from ..ir.graph import Graph
from .rewrite import bypass, slice_plan


def _keeps_everything(graph: Graph, node) -> bool:
    """A Slice whose every axis starts at 0, steps by 1 and keeps the whole dim."""
    plan = slice_plan(graph, node)
    return plan is not None and all(axis == (0, 1, d) for axis, d in zip(plan, graph.tensors[node.inputs[0]].shape))


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
