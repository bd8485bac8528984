"""Fuse a squeeze-excitation block's scale into one SqueezeExcite node (ops/squeeze_excite.py):
  s = Conv_2(Conv_1(GlobalAveragePool(x)))   (Conv_1 with its activation, Conv_2 with a Sigmoid or HardSigmoid)
  y = x · s
becomes s = SqueezeExcite(x, W1, B1, W2, B2), y = x · s; passes/fuse_prologue.py then makes the Mul the next 1x1
conv's prologue. EfficientNet-B0 has 16 such blocks, MobileNetV3-Large 8, RegNetY-400MF 16: each cost the plan
four launches or more (a split-K reduction each FC may add), and costs one or two now.

A plan-time pass for GPUs (passes.for_device). It applies when the pool (GlobalAveragePool, or ReduceMean over
H and W keeping them) reads the block's input x, both convs are 1x1, one group, constant weights and biases, no
residual nor a forced kernel, the first one's activation is not PRelu, each intermediate tensor has one reader
and is no graph output, and the FC weights are at most MAX_WEIGHTS: the SqueezeExcite node reads them in one
work-group per image, while the convs it replaces spread them over the device (on the H200 MobileNetV3-Large's
672- and 960-channel blocks ran slower fused: benchmarks/NOTES.md)."""
from __future__ import annotations

from ..ir.graph import Graph, Node
from ..ops.squeeze_excite import GATES
from .rewrite import const, sole_consumer

MAX_WEIGHTS = 65536  # R x C of the first FC: EfficientNet-B0's widest block has 48 x 1152


def _pool_of(node: Node | None) -> str | None:
    """x when `node` averages x over its H and W, keeping them."""
    if node is None:
        return None
    if node.op_type == "GlobalAveragePool":
        return node.inputs[0]
    if node.op_type == "ReduceMean" and node.attrs.get("keepdims", 1) and len(node.inputs) == 1 \
            and sorted(a % 4 for a in node.attrs.get("axes") or ()) == [2, 3]:
        return node.inputs[0]
    return None


def _fc(graph: Graph, node: Node | None, reader: Node) -> bool:
    """Whether `node` is a 1x1 one-group Conv with constant weights and bias, read only by `reader`."""
    if node is None or node.op_type != "Conv" or len(node.inputs) > 3 or node.attrs.get("group", 1) != 1:
        return False
    if any(k in node.attrs for k in ("residual", "kernel_variant", "fused_inputs")):
        return False
    w = graph.tensors[node.inputs[1]]
    bias = node.inputs[2] if len(node.inputs) > 2 else ""
    return (w.is_const and len(w.shape) == 4 and tuple(w.shape[2:]) == (1, 1)
            and (not bias or const(graph, bias) is not None) and sole_consumer(graph, node.outputs[0], reader))


def _block(graph: Graph, mul: Node, producers: dict) -> tuple[str, Node, Node, Node] | None:
    """(x, pool, fc1, fc2) when `mul` = x · fc2(fc1(pool(x))), operands in either order."""
    if mul.op_type != "Mul" or len(mul.inputs) != 2 or "activation" in mul.attrs:
        return None
    for x, s in (mul.inputs, mul.inputs[::-1]):
        fc2 = producers.get(s)
        if not _fc(graph, fc2, mul) or fc2.attrs.get("activation") not in GATES:
            continue
        fc1 = producers.get(fc2.inputs[0])
        if not _fc(graph, fc1, fc2) or fc1.attrs.get("activation") == "PRelu":
            continue
        pool = producers.get(fc1.inputs[0])
        shape = graph.tensors[x].shape
        weights = graph.tensors[fc1.inputs[1]].shape
        if (_pool_of(pool) == x and sole_consumer(graph, pool.outputs[0], fc1) and len(shape) == 4
                and graph.tensors[s].shape == (shape[0], shape[1], 1, 1) and weights[0] * weights[1] <= MAX_WEIGHTS):
            return x, pool, fc1, fc2
    return None


def _squeeze_excite(x: str, fc1: Node, fc2: Node) -> Node:
    inputs = [x, fc1.inputs[1], fc1.inputs[2] if len(fc1.inputs) > 2 else "", fc2.inputs[1],
              fc2.inputs[2] if len(fc2.inputs) > 2 else ""]
    attrs = {"gate": fc2.attrs["activation"], "gate_params": list(fc2.attrs.get("activation_params", []))}
    if fc1.attrs.get("activation"):
        attrs |= {"activation": fc1.attrs["activation"],
                  "activation_params": list(fc1.attrs.get("activation_params", []))}
    return Node(f"{fc2.name}/squeeze_excite", "SqueezeExcite", inputs, list(fc2.outputs), attrs)


def run(graph: Graph) -> Graph:
    producers = graph.producers()
    replaced: dict[int, Node] = {}  # id of the second FC → the SqueezeExcite that takes its place
    gone: set[int] = set()
    for mul in graph.nodes:
        found = _block(graph, mul, producers)
        if found is None:
            continue
        x, pool, fc1, fc2 = found
        replaced[id(fc2)] = _squeeze_excite(x, fc1, fc2)
        gone |= {id(pool), id(fc1)}
        for name in (pool.outputs[0], fc1.outputs[0]):
            graph.tensors.pop(name, None)
    graph.nodes = [replaced.get(id(n), n) for n in graph.nodes if id(n) not in gone]
    return graph
