"""Remove Transposes that do nothing: an identity permutation, or a second Transpose undoing the first
(keras2onnx exports wrap NHWC tensors in such pairs); make two Transposes in a row one; and make a Transpose that
moves only axes of size 1 a Reshape, which runs as an alias of its input (torch's batch-first attention swaps a
batch of 1 with the tokens twice a layer: 24 copies in ViT-B/16)."""
from __future__ import annotations

from ..ir.graph import Graph
from .rewrite import bypass, remove, sole_consumer, transpose_perm


def _moves_only_ones(graph: Graph, node, perm: list[int]) -> bool:
    """Whether the Transpose keeps the order of its input's axes of size other than 1 (the same bytes, in order)."""
    shape = graph.tensors[node.inputs[0]].shape
    if shape is None or not all(isinstance(d, int) for d in shape) or len(perm) != len(shape):
        return False
    kept = [p for p in perm if shape[p] != 1]
    return kept == sorted(kept)


def run(graph: Graph) -> Graph:
    for node in [n for n in graph.nodes if n.op_type == "Transpose"]:
        perm = transpose_perm(graph, node)
        if perm == sorted(perm):
            bypass(graph, node, node.inputs[0])
            continue
        if _moves_only_ones(graph, node, perm):
            shape = graph.tensors[node.inputs[0]].shape
            node.op_type, node.attrs = "Reshape", {"shape": [shape[p] for p in perm], "allowzero": 1}
            continue
        first = graph.producers().get(node.inputs[0])
        if first is not None and first.op_type == "Transpose":
            inner = transpose_perm(graph, first)
            composed = [inner[p] for p in perm]  # y[j] = x[inner[perm[j]]]
            if composed == list(range(len(perm))):
                bypass(graph, node, first.inputs[0])
            elif sole_consumer(graph, first.outputs[0], node) and first.outputs[0] not in graph.outputs:
                node.inputs, node.attrs["perm"] = [first.inputs[0]], composed  # two copies become one
                remove(graph, first)
    return graph
