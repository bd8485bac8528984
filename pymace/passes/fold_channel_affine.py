"""Fold per-channel constant scales and shifts after a Conv or a BatchNormalization into it:
  Conv(x, W, b) · s + t  →  Conv(x, W·s, b·s + t)        BN(x; γ, β, μ, σ²) · s + t  →  BN(x; γ·s, β·s + t, μ, σ²)
one Mul, Add, Sub or Div by a constant at a time (x · s, s · x, x + t, t + x, x − t, x / s), s and t varying along
the channel axis alone or scalars. Caffe-derived exports write a BatchNormalization as BN (mean, variance) then a
Scale layer (Mul, Add), and many put such a Scale after each conv: DenseNet-121 from one zoo has 121 Mul and 121
Add that were launches and passes over whole feature maps. The Conv's or BN's output must have no other reader
and be no graph output, the Conv no activation yet (this runs before fuse_activation), its weights a float32
constant and its bias a constant or absent. New constants are made: weights other nodes read stay as they were."""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node
from .rewrite import along, const, new_const, remove, sole_consumer

OPS = ("Mul", "Add", "Sub", "Div")


def _per_channel(graph: Graph, name: str, rank: int, channels: int) -> np.ndarray | None:
    """A constant's value per channel (axis 1 of a `rank`-dim tensor): one value each, or one for all."""
    value = const(graph, name)
    if value is not None and value.size == 1 and value.dtype == np.float32 and np.isfinite(value).all():
        return np.full(channels, float(value.reshape(-1)[0]), np.float64)
    found = along(graph, name, rank, 1, channels) if rank >= 2 else None
    return None if found is None else found.astype(np.float64)


def _affine(graph: Graph, node: Node, x: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(scale, shift) per channel when `node` is x·s, s·x, x+t, t+x, x−t or x/s of a constant, else None."""
    if node.op_type not in OPS or len(node.inputs) != 2 or node.attrs or node.inputs.count(x) != 1:
        return None
    shape = graph.tensors[x].shape
    if not shape or len(shape) < 2 or graph.tensors[node.outputs[0]].shape != shape or \
            not isinstance(shape[1], int) or shape[1] < 1:
        return None
    other = node.inputs[1 - node.inputs.index(x)]
    if node.op_type in ("Sub", "Div") and node.inputs[0] != x:
        return None
    v = _per_channel(graph, other, len(shape), shape[1])
    if v is None or (node.op_type == "Div" and not np.all(v != 0)):
        return None
    ones, zeros = np.ones_like(v), np.zeros_like(v)
    return {"Mul": (v, zeros), "Div": (1 / v, zeros), "Add": (ones, v), "Sub": (ones, -v)}[node.op_type]


def _fold_into_conv(graph: Graph, conv: Node, scale: np.ndarray, shift: np.ndarray) -> bool:
    w = const(graph, conv.inputs[1]) if len(conv.inputs) > 1 else None
    has_bias = len(conv.inputs) > 2 and bool(conv.inputs[2])
    b = const(graph, conv.inputs[2]) if has_bias else None
    if w is None or w.dtype != np.float32 or w.shape[0] != len(scale) or (has_bias and b is None) or \
            len(conv.inputs) > 3 or "activation" in conv.attrs:
        return False
    bias = b.astype(np.float64).reshape(-1) if b is not None else np.zeros_like(scale)
    new_w = (w.astype(np.float64) * scale.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
    conv.inputs = [conv.inputs[0], new_const(graph, f"{conv.inputs[1]}_affine", new_w),
                   new_const(graph, f"{conv.name}_bias_affine", (bias * scale + shift).astype(np.float32))]
    return True


def _fold_into_bn(graph: Graph, bn: Node, scale: np.ndarray, shift: np.ndarray) -> bool:
    gamma, beta = (const(graph, i) for i in bn.inputs[1:3])
    if gamma is None or beta is None or gamma.size != len(scale) or beta.size != len(scale) or \
            len(bn.inputs) != 5 or "activation" in bn.attrs:
        return False
    bn.inputs = [bn.inputs[0], new_const(graph, f"{bn.inputs[1]}_affine", (gamma * scale).astype(np.float32)),
                 new_const(graph, f"{bn.inputs[2]}_affine", (beta * scale + shift).astype(np.float32)),
                 *bn.inputs[3:]]
    return True


def _fold(graph: Graph, node: Node, producers: dict) -> bool:
    for x in node.inputs:
        producer = producers.get(x)
        if producer is None or producer.op_type not in ("Conv", "BatchNormalization") or \
                len(producer.outputs) != 1 or not sole_consumer(graph, x, node):
            continue
        found = _affine(graph, node, x)
        into = _fold_into_conv if producer.op_type == "Conv" else _fold_into_bn
        if found is not None and into(graph, producer, *found):
            producer.outputs = list(node.outputs)
            remove(graph, node)
            return True
    return False


def run(graph: Graph) -> Graph:
    changed = True
    while changed:  # a chain (· s then + t) folds one node a round
        producers, changed = graph.producers(), False
        for node in [n for n in graph.nodes if n.op_type in OPS]:
            if _fold(graph, node, producers):
                producers, changed = graph.producers(), True
    return graph
