"""Dead-node pruning: drop nodes and constants that no graph output depends on."""
from __future__ import annotations

from ..ir.graph import Graph


def run(graph: Graph) -> Graph:
    graph.prune()
    return graph
