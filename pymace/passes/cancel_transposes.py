"""Remove Transposes that do nothing: an identity permutation, or a second Transpose undoing the first
(keras2onnx exports wrap NHWC tensors in such pairs); and make a Transpose that moves only axes of size 1 a
Reshape, which runs as an alias of its input (torch's batch-first attention swaps a batch of 1 with the tokens
twice a layer: 24 copies in ViT-B/16)."""
from __future__ import annotations

from ..ir.graph import Graph
from .rewrite import bypass


def _perm(graph: Graph, node) -> list[int]:
    perm = node.attrs.get("perm")
    return list(perm) if perm is not None else list(range(len(graph.tensors[node.inputs[0]].shape)))[::-1]


def _moves_only_ones(graph: Graph, node, perm: list[int]) -> bool:
    """Whether the Transpose keeps the order of its input's axes of size other than 1 (the same bytes, in order)."""
    shape = graph.tensors[node.inputs[0]].shape
    if shape is None or not all(isinstance(d, int) for d in shape) or len(perm) != len(shape):
        return False
    kept = [p for p in perm if shape[p] != 1]
    return kept == sorted(kept)


def run(graph: Graph) -> Graph:
    for node in [n for n in graph.nodes if n.op_type == "Transpose"]:
        perm = _perm(graph, node)
        if perm == sorted(perm):
            bypass(graph, node, node.inputs[0])
            continue
        if _moves_only_ones(graph, node, perm):
            shape = graph.tensors[node.inputs[0]].shape
            node.op_type, node.attrs = "Reshape", {"shape": [shape[p] for p in perm], "allowzero": 1}
            continue
        first = graph.producers().get(node.inputs[0])
        if first is not None and first.op_type == "Transpose":
            inner = _perm(graph, first)
            if [inner[p] for p in perm] == list(range(len(perm))):  # y[j] = x[inner[perm[j]]] = x[j]
                bypass(graph, node, first.inputs[0])
    return graph
