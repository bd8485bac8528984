"""Fuse a residual Add into the Conv that produces one of its operands: Add(Conv(x), r) → Conv(x, residual r).

The Conv then computes activate(conv + bias + r) in one kernel (pymace's Conv attribute `residual`; docs/ir.md):
one launch and one pass over memory fewer per residual block (MobileNetV2 has 10, ResNet-50 16). It applies when
the Conv has no activation of its own (the Add's, fused earlier, moves to the Conv), its output has no other
reader and is no graph output, and the other operand has the output's full shape (no broadcasting)."""
from __future__ import annotations

from ..ir.graph import Graph, Node
from .rewrite import absorb_add, sole_consumer


def _fusable(graph: Graph, conv: Node | None, add: Node, other: str) -> bool:
    if conv is None or conv.op_type != "Conv" or "activation" in conv.attrs or conv.attrs.get("residual"):
        return False
    if len(conv.outputs) != 1 or not sole_consumer(graph, conv.outputs[0], add):
        return False
    shape = graph.tensors[add.outputs[0]].shape
    return (graph.tensors[other].shape == shape == graph.tensors[conv.outputs[0]].shape and other != ""
            and other != conv.outputs[0])  # Add(c, c): the conv can't read its own output


def run(graph: Graph) -> Graph:
    producers = graph.producers()
    order = {id(n): i for i, n in enumerate(graph.nodes)}
    for add in [n for n in graph.nodes if n.op_type == "Add" and len(n.inputs) >= 2]:
        a, b = add.inputs[:2]
        options = [(producers.get(a), b), (producers.get(b), a)]
        # of two fusable Convs, take the later one: the other operand is then already computed
        options = [(c, o) for c, o in options if _fusable(graph, c, add, o)]
        if not options:
            continue
        conv, other = max(options, key=lambda co: order[id(co[0])])
        bias = conv.inputs[2] if len(conv.inputs) > 2 else ""
        conv.inputs = [conv.inputs[0], conv.inputs[1], bias, other]
        conv.attrs["residual"] = True
        absorb_add(graph, conv, add, producers)
    graph.toposort()
    return graph
