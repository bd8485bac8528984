"""Remove Transposes that do nothing: an identity permutation, or a second Transpose undoing the first
(keras2onnx exports wrap NHWC tensors in such pairs)."""
from __future__ import annotations

from ..ir.graph import Graph
from .rewrite import bypass


def _perm(graph: Graph, node) -> list[int]:
    perm = node.attrs.get("perm")
    return list(perm) if perm is not None else list(range(len(graph.tensors[node.inputs[0]].shape)))[::-1]


def run(graph: Graph) -> Graph:
    for node in [n for n in graph.nodes if n.op_type == "Transpose"]:
        perm = _perm(graph, node)
        if perm == sorted(perm):
            bypass(graph, node, node.inputs[0])
            continue
        first = graph.producers().get(node.inputs[0])
        if first is not None and first.op_type == "Transpose":
            inner = _perm(graph, first)
            if [inner[p] for p in perm] == list(range(len(perm))):  # y[j] = x[inner[perm[j]]] = x[j]
                bypass(graph, node, first.inputs[0])
    return graph
