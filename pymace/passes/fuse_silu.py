"""Fuse x · Sigmoid(x) (SiLU, swish: EfficientNet's activation, 49 of them in B0) into the producer of x as its
activation "Silu" (ops/activation.py): one kernel writes the activated result, where the model as exported runs
the producer, a Sigmoid and a Mul (two launches and two passes over memory more).

A plan-time pass for GPU and CPU plans (passes.for_device), run on the plan's own copy of the graph. It applies when the
producer is one that fuses activations (fuse_activation.PRODUCERS) and has none yet, has one float32 output that
is no graph output and is read exactly by the Sigmoid and the Mul (once each), and the Sigmoid's output is read
only by the Mul."""
from __future__ import annotations

from ..ir.graph import Graph, Node
from .fuse_activation import PRODUCERS
from .rewrite import readers, remove, sole_consumer

NEEDS = frozenset({"Sigmoid", "Mul"})  # op types a graph must hold for this pass to change it (passes.for_device)


def _silu_input(graph: Graph, mul: Node, producers: dict) -> str | None:
    """x when `mul` = x · Sigmoid(x) (operands in either order) and the pair can fold into x's producer."""
    if mul.op_type != "Mul" or len(mul.inputs) != 2 or "activation" in mul.attrs:
        return None
    for x, s in (mul.inputs, mul.inputs[::-1]):
        sig = producers.get(s)
        if sig is None or sig.op_type != "Sigmoid" or sig.inputs != [x] or not sole_consumer(graph, s, mul):
            continue
        node = producers.get(x)
        if (node is None or node.op_type not in PRODUCERS or "activation" in node.attrs or len(node.outputs) != 1
                or x in graph.outputs or graph.tensors[x].dtype != "float32"):
            continue
        if sorted(id(r) for r in readers(graph, x)) == sorted((id(sig), id(mul))):
            return x
    return None


def run(graph: Graph) -> Graph:
    producers = graph.producers()
    for mul in [n for n in graph.nodes if n.op_type == "Mul"]:
        x = _silu_input(graph, mul, producers)
        if x is None:
            continue
        node = producers[x]
        sig = next(producers[i] for i in mul.inputs if i != x)
        node.attrs["activation"], node.attrs["activation_params"] = "Silu", []
        node.outputs = [mul.outputs[0]]
        producers[mul.outputs[0]] = node
        remove(graph, sig, mul)
        for gone in (x, sig.outputs[0]):
            del graph.tensors[gone]
    return graph
