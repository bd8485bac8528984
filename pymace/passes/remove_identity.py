"""Remove Identity, Dropout (inference) and Pads that pad nothing: their consumers read the input directly."""
from __future__ import annotations

from ..ir.graph import Graph
from .rewrite import bypass


def _is_identity(node) -> bool:
    if node.op_type == "Pad":  # all-zero pads (any mode): e.g. a zero Pad before a MaxPool, which fold_pad keeps
        return not any(node.attrs.get("pads", [1]))
    return node.op_type in ("Identity", "Dropout")


def run(graph: Graph) -> Graph:
    for node in [n for n in graph.nodes if _is_identity(n)]:
        bypass(graph, node, node.inputs[0])
    return graph
