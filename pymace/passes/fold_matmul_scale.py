"""Fold a scalar Mul or Div on a MatMul's operand or result into the MatMul's `alpha` (pymace's attribute, as
Gemm's: alpha · A·B): torch exports scaled dot-product attention as q · √s and kᵀ · √s before their MatMul, and
older exports divide the scores by √d after it. The kernels scale in their epilogue; each such Mul is one launch
and one pass over memory fewer. It applies to a constant of one finite element whose other operand has the
MatMul's operand's (or result's) shape, when the tensor between them has no other reader and is no graph output."""
from __future__ import annotations

import math

import numpy as np

from ..ir.graph import Graph, Node
from .rewrite import readers, remove, scalar, sole_consumer


def _scale(graph: Graph, node: Node | None) -> tuple[str, float] | None:
    """(the scaled tensor, the factor) of a Mul/Div of a tensor by a finite one-element constant, else None."""
    if node is None or node.op_type not in ("Mul", "Div") or node.attrs or len(node.inputs) != 2:
        return None
    x, s = node.inputs
    value = scalar(graph, s)
    if value is None and node.op_type == "Mul":
        s, x = node.inputs
        value = scalar(graph, s)
    if value is None or graph.tensors[x].shape != graph.tensors[node.outputs[0]].shape:
        return None
    if node.op_type == "Div":
        if value == 0:
            return None
        value = 1.0 / value
    if not math.isfinite(value) or graph.tensors[x].dtype != "float32":
        return None
    return x, value


def _fold_inputs(graph: Graph, matmul: Node, producers: dict) -> None:
    for k in (0, 1):
        mul = producers.get(matmul.inputs[k])
        found = _scale(graph, mul)
        if found is None or not sole_consumer(graph, mul.outputs[0], matmul) or mul.outputs[0] in graph.outputs:
            continue
        if matmul.inputs.count(mul.outputs[0]) != 1:
            continue
        matmul.inputs[k] = found[0]
        matmul.attrs["alpha"] = float(np.float32(matmul.attrs.get("alpha", 1.0) * found[1]))
        remove(graph, mul)


def _fold_output(graph: Graph, matmul: Node, producers: dict) -> None:
    out = matmul.outputs[0]
    users = readers(graph, out)
    if len(users) != 1 or out in graph.outputs or "activation" in matmul.attrs or matmul.attrs.get("addend"):
        return
    found = _scale(graph, users[0])
    if found is None or found[0] != out:
        return
    matmul.attrs["alpha"] = float(np.float32(matmul.attrs.get("alpha", 1.0) * found[1]))
    matmul.outputs = [users[0].outputs[0]]
    producers[matmul.outputs[0]] = matmul
    remove(graph, users[0])


def run(graph: Graph) -> Graph:
    producers = graph.producers()
    for matmul in [n for n in graph.nodes if n.op_type == "MatMul" and len(n.inputs) == 2]:
        _fold_inputs(graph, matmul, producers)
        _fold_output(graph, matmul, producers)
    graph.toposort()
    return graph
