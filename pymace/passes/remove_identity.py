"""Remove Identity and Dropout (inference): their consumers read the input directly."""
from __future__ import annotations

from ..ir.graph import Graph
from .rewrite import bypass


def run(graph: Graph) -> Graph:
    for node in [n for n in graph.nodes if n.op_type in ("Identity", "Dropout")]:
        bypass(graph, node, node.inputs[0])
    return graph
