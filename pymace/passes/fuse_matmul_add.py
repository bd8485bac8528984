"""Fuse an Add into the MatMul that produces one of its operands: Add(MatMul(a, B), c) → MatMul(a, B, addend c).

A transformer's Linear layers export as MatMul then Add of the bias, and many residual connections as an Add of
a MatMul's output: the Gemm/MatMul kernels add c in their epilogue (beta · C through broadcast strides), so each
such pair is one launch and one pass over memory fewer (ViT-B/16 has 48 bias Adds, ConvNeXt-T 36). pymace's
MatMul attribute `addend` (docs/ir.md) then makes the inputs [a, B, c] (+ PRelu's slope last). It applies when B
is one matrix (the kernels then see A as one matrix of rows), the MatMul has no activation of its own, its output
has no other reader and is no graph output, and c is either the output's full shape or a row vector (ones but its
last dimension, which is 1 or the output's)."""
from __future__ import annotations

from ..ir.graph import Graph, Node
from ..ops.gemm import addend_fits
from .rewrite import absorb_add, sole_consumer


def _fusable(graph: Graph, matmul: Node | None, add: Node, other: str) -> bool:
    if matmul is None or matmul.op_type != "MatMul" or "activation" in matmul.attrs or matmul.attrs.get("addend"):
        return False
    if len(matmul.inputs) != 2 or len(matmul.outputs) != 1 or not sole_consumer(graph, matmul.outputs[0], add):
        return False
    out, b = graph.tensors[matmul.outputs[0]], graph.tensors[matmul.inputs[1]]
    if out.dtype != "float32" or out.shape is None or b.shape is None or len(b.shape) != 2 or len(out.shape) < 2:
        return False
    other_shape = graph.tensors[other].shape
    return (other not in ("", matmul.outputs[0]) and other_shape is not None
            and graph.tensors[add.outputs[0]].shape == out.shape and addend_fits(other_shape, out.shape))


def run(graph: Graph) -> Graph:
    producers = graph.producers()
    order = {id(n): i for i, n in enumerate(graph.nodes)}
    for add in [n for n in graph.nodes if n.op_type == "Add" and len(n.inputs) == 2 + (n.attrs.get("activation")
                                                                                         == "PRelu")]:
        a, b = add.inputs[:2]
        options = [(m, o) for m, o in ((producers.get(a), b), (producers.get(b), a)) if _fusable(graph, m, add, o)]
        if not options:
            continue
        matmul, other = max(options, key=lambda mo: order[id(mo[0])])  # the later MatMul: `other` is computed
        matmul.inputs = [*matmul.inputs, other]
        matmul.attrs["addend"] = True
        absorb_add(graph, matmul, add, producers)
    graph.toposort()
    return graph
