"""Fold a per-column constant Mul after a Linear layer into its weights: MatMul(x, W) (+ b) (then a Transpose)
followed by · γ, γ a constant that varies along the MatMul's output columns alone, becomes MatMul(x, W·γ) (+ b·γ)
(then the Transpose). ConvNeXt's layer scale is exactly this (its second Linear, the permute back to NCHW, then γ
of shape (C, 1, 1), a block); the Mul was a launch and a pass over the block's output. W must be a constant
matrix and b, when there, a constant row; the tensors between them must have no other reader and be no graph
output, and the MatMul no activation of its own (γ would have to come before it). New constants are made: a W or
b that other nodes read stays as it was."""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node
from .rewrite import along, const, new_const, remove, sole_consumer, transpose_perm


def _chain(graph: Graph, mul: Node, producers: dict):
    """(MatMul, its bias Add or None, a Transpose after them or None, γ) for a Mul by a constant that scales the
    MatMul's output columns, else None."""
    if mul.op_type != "Mul" or len(mul.inputs) != 2 or mul.attrs:
        return None
    out = graph.tensors[mul.outputs[0]].shape
    if not out or not all(isinstance(d, int) for d in out):  # a scalar, or dims not known: no columns to scale
        return None
    for x, s in (mul.inputs, mul.inputs[::-1]):
        node = producers.get(x)
        if node is None or graph.tensors[x].shape != out:
            continue
        transpose = node if node.op_type == "Transpose" else None
        axis = len(out) - 1 if transpose is None else transpose_perm(graph, transpose).index(len(out) - 1)
        gamma = along(graph, s, len(out), axis, out[axis])
        node = producers.get(transpose.inputs[0]) if transpose is not None else node
        add = node if node is not None and node.op_type == "Add" and len(node.inputs) == 2 else None
        if gamma is None or node is None:
            continue
        if add is not None:
            rank = len(graph.tensors[add.outputs[0]].shape)
            m, b, row = next(((m, b, row) for m, b in (add.inputs, add.inputs[::-1]) if m in producers and
                              producers[m].op_type == "MatMul" and
                              (row := along(graph, b, rank, -1, len(gamma))) is not None), (None, None, None))
            node = producers.get(m) if m else None
        if node is not None and node.op_type == "MatMul":
            return node, (add, b, row) if add is not None else None, transpose, gamma
    return None


def _fold(graph: Graph, mul: Node, producers: dict) -> bool:
    found = _chain(graph, mul, producers)
    if found is None:
        return False
    matmul, biased, transpose, gamma = found
    w = const(graph, matmul.inputs[1])
    if w is None or w.ndim != 2 or w.dtype != np.float32 or len(matmul.inputs) != 2 or \
            "activation" in matmul.attrs or matmul.inputs[0] == matmul.inputs[1] or matmul.attrs.get("a_view"):
        return False
    chain = [matmul, *([biased[0]] if biased else []), *([transpose] if transpose else []), mul]
    if not all(sole_consumer(graph, a.outputs[0], b) for a, b in zip(chain, chain[1:])):
        return False
    matmul.inputs[1] = new_const(graph, matmul.inputs[1] + "_scaled", (w * gamma).astype(np.float32))
    if biased:
        add, bias, row = biased
        scaled = (row * gamma).astype(np.float32).reshape(const(graph, bias).shape)
        add.inputs[add.inputs.index(bias)] = new_const(graph, bias + "_scaled", scaled)
    chain[-2].outputs = list(mul.outputs)
    remove(graph, mul)
    return True


def run(graph: Graph) -> Graph:
    producers = graph.producers()
    for mul in [n for n in graph.nodes if n.op_type == "Mul"]:
        if _fold(graph, mul, producers):
            producers = graph.producers()
    return graph
