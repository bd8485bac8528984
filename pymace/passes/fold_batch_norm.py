"""Fold a BatchNormalization that follows a Conv into the Conv's weights and bias:
  W' = W · s,  B' = (B − mean) · s + beta,  s = scale / sqrt(var + eps)   (per output channel).
A BatchNormalization with any other producer stays (it has a kernel of its own)."""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph
from .rewrite import const, new_const, remove, sole_consumer


def run(graph: Graph) -> Graph:
    producers = graph.producers()
    for bn in [n for n in graph.nodes if n.op_type == "BatchNormalization"]:
        conv = producers.get(bn.inputs[0])
        params = [const(graph, i) for i in bn.inputs[1:5]]
        if conv is None or conv.op_type != "Conv" or "activation" in conv.attrs or any(p is None for p in params):
            continue
        w, b = const(graph, conv.inputs[1]), const(graph, conv.inputs[2]) if len(conv.inputs) > 2 else None
        if w is None or (len(conv.inputs) > 2 and conv.inputs[2] and b is None):
            continue
        if not sole_consumer(graph, conv.outputs[0], bn):
            continue
        scale, beta, mean, var = (p.astype(np.float64) for p in params)
        s = scale / np.sqrt(var + bn.attrs.get("epsilon", 1e-5))
        bias = b.astype(np.float64) if b is not None else np.zeros_like(s)
        new_w = (w.astype(np.float64) * s.reshape((-1,) + (1,) * (w.ndim - 1))).astype(w.dtype)
        new_b = ((bias - mean) * s + beta).astype(w.dtype)
        conv.inputs = [conv.inputs[0], new_const(graph, f"{conv.inputs[1]}_bn", new_w),
                       new_const(graph, f"{conv.name}_bias_bn", new_b)]
        conv.outputs = [bn.outputs[0]]
        remove(graph, bn)
    return graph
