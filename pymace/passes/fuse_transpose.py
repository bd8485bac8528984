"""A GPU plan's fusion: a MatMul reads a Transpose's input through the permutation's strides instead of the
Transpose's copy (pymace's MatMul attributes `a_perm`, `b_perm`; docs/ir.md). Attention exports permute q, k and v
into heads right before their products (ViT-B/16: three a layer); the gemm kernels read any operand through
strides and per-batch offsets, so the copy and its launch go. It applies when the Transpose's output is read by
that MatMul alone, once, and is no graph output, and its input is a computed tensor of rank ≥ 2."""
from __future__ import annotations

from ..ir.graph import Graph
from .rewrite import remove, sole_consumer, transpose_perm


def run(graph: Graph) -> Graph:
    producers = graph.producers()
    for matmul in [n for n in graph.nodes if n.op_type == "MatMul"]:
        for k, attr in ((0, "a_perm"), (1, "b_perm")):
            t = producers.get(matmul.inputs[k])
            if t is None or t.op_type != "Transpose" or attr in matmul.attrs or matmul.inputs.count(t.outputs[0]) != 1:
                continue
            source = graph.tensors[t.inputs[0]]
            if source.is_const or source.shape is None or len(source.shape) < 2 or t.outputs[0] in graph.outputs:
                continue
            if not sole_consumer(graph, t.outputs[0], matmul):
                continue
            matmul.attrs[attr] = transpose_perm(graph, t)
            matmul.inputs[k] = t.inputs[0]
            remove(graph, t)
    return graph
