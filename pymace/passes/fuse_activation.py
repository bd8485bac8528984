"""Fuse an activation into the node that produces its input (docs/ir.md: `activation`, `activation_params`,
PRelu's slope as the producer's last input), when that output has no other reader and is no graph output.
One kernel then writes the activated result: no extra pass over memory, no extra launch."""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node
from .rewrite import const, remove, sole_consumer

PRODUCERS = ("Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "BatchNormalization")
# inputs a producer has before PRelu's slope (omitted optional ones are written as "")
ARITY = {"Conv": 3, "ConvTranspose": 3, "Gemm": 3, "MatMul": 2, "Add": 2, "Sub": 2, "Mul": 2, "Div": 2,
         "BatchNormalization": 5}


def _params(graph: Graph, act: Node, out_shape) -> list | None:
    """activation_params for `act`, or None when it cannot be fused."""
    a = act.attrs
    if act.op_type == "Clip":
        return [a.get("min"), a.get("max")]
    if act.op_type == "HardSigmoid":
        return [a.get("alpha", 0.2), a.get("beta", 0.5)]
    if act.op_type == "LeakyRelu":
        return [a.get("alpha", 0.01)]
    if act.op_type == "Gelu":
        form = a.get("approximate", "none")
        return [1.0 if form == "tanh" else 0.0] if form in ("none", "tanh") else None
    if act.op_type == "PRelu":  # fusable when the slope is a constant scalar or per channel (axis 1)
        slope = const(graph, act.inputs[1])
        if slope is None or out_shape is None or len(out_shape) < 2 or slope.ndim > len(out_shape):
            return None
        dims = (1,) * (len(out_shape) - slope.ndim) + slope.shape
        per_channel = all(d == 1 for k, d in enumerate(dims) if k != 1) and dims[1] in (1, out_shape[1])
        return [] if per_channel else None
    return []


def run(graph: Graph) -> Graph:
    producers = graph.producers()
    for act in [n for n in graph.nodes if n.op_type in ("Relu", "Clip", "HardSwish", "HardSigmoid", "Sigmoid",
                                                         "LeakyRelu", "PRelu", "Tanh", "Gelu")]:
        node = producers.get(act.inputs[0])
        if node is None or node.op_type not in PRODUCERS or "activation" in node.attrs:
            continue
        if not sole_consumer(graph, act.inputs[0], act) or len(node.outputs) != 1:
            continue
        out = graph.tensors[act.inputs[0]]
        if out.dtype != "float32":
            continue
        params = _params(graph, act, out.shape)
        if params is None:
            continue
        node.attrs["activation"] = act.op_type
        node.attrs["activation_params"] = [None if p is None else float(np.float32(p)) for p in params]
        if act.op_type == "PRelu":
            node.inputs = (node.inputs + [""] * ARITY[node.op_type])[:ARITY[node.op_type]] + [act.inputs[1]]
        node.outputs = [act.outputs[0]]
        producers[act.outputs[0]] = node
        remove(graph, act)
    return graph
