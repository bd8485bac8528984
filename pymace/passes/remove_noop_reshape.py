"""Remove Reshape/Flatten/Squeeze/Unsqueeze nodes whose output shape equals their input shape."""
from __future__ import annotations

from ..ir.graph import Graph
from .rewrite import bypass

RESHAPES = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")


def run(graph: Graph) -> Graph:
    for node in [n for n in graph.nodes if n.op_type in RESHAPES]:
        x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
        if x.shape is not None and x.shape == y.shape:
            bypass(graph, node, node.inputs[0])
    return graph
