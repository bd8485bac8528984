"""Small graph-rewriting helpers the passes share."""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node, Tensor


def sole_consumer(graph: Graph, name: str, node: Node) -> bool:
    """Whether `node` is the only reader of tensor `name` and the tensor is no graph output (safe to absorb)."""
    if name in graph.outputs or name in graph.inputs:
        return False
    readers = [n for n in graph.nodes if name in n.inputs]
    return len(readers) == 1 and readers[0] is node


def readers(graph: Graph, name: str) -> list[Node]:
    """The nodes that read tensor `name`, a node once per input that names it."""
    return [n for n in graph.nodes for i in n.inputs if i == name]


def working_copy(graph: Graph) -> Graph:
    """A graph a plan-time pass may change in place (shape inference included): new Node and Tensor records;
    constant data is shared with `graph`, which stays as it was."""
    nodes = [Node(n.name, n.op_type, list(n.inputs), list(n.outputs), dict(n.attrs)) for n in graph.nodes]
    tensors = {k: Tensor(t.name, t.shape, t.dtype, t.data) for k, t in graph.tensors.items()}
    return Graph(graph.name, nodes, tensors, list(graph.inputs), list(graph.outputs), graph.metadata)


def const(graph: Graph, name: str) -> np.ndarray | None:
    t = graph.tensors.get(name) if name else None
    return t.data if t is not None and t.is_const else None


def scalar(graph: Graph, name: str) -> float | None:
    """The value of a one-element constant, else None."""
    value = const(graph, name)
    return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None


def along(graph: Graph, name: str, rank: int, axis: int, n: int) -> np.ndarray | None:
    """A float32 constant's n finite values when, broadcast to `rank` dims, it varies along `axis` alone (it holds
    n values), else None."""
    value = const(graph, name)
    if value is None or value.dtype != np.float32 or value.size != n or value.ndim > rank:
        return None
    shape = (1,) * (rank - value.ndim) + value.shape
    if shape[axis] != n or not np.all(np.isfinite(value)):
        return None
    return value.reshape(n)


def new_const(graph: Graph, base: str, value: np.ndarray) -> str:
    """Add a constant under a fresh name derived from `base`; return the name."""
    name, k = base, 0
    while name in graph.tensors:
        k += 1
        name = f"{base}_{k}"
    graph.tensors[name] = Tensor(name, tuple(value.shape), str(value.dtype), value)
    return name


def remove(graph: Graph, *nodes: Node) -> None:
    drop = {id(n) for n in nodes}
    graph.nodes = [n for n in graph.nodes if id(n) not in drop]


def bypass(graph: Graph, node: Node, source: str) -> bool:
    """Drop `node`, whose output equals tensor `source`. When the output is a graph output, the producer of
    `source` takes over its name instead (if it can); returns False when the node has to stay."""
    out = node.outputs[0]
    if out not in graph.outputs:
        for n in graph.nodes:
            n.inputs = [source if i == out else i for i in n.inputs]
        remove(graph, node)
        return True
    producer = graph.producers().get(source)
    if producer is None or not sole_consumer(graph, source, node):
        return False
    producer.outputs = [out if o == source else o for o in producer.outputs]
    remove(graph, node)
    return True


def absorb_add(graph: Graph, node: Node, add: Node, producers: dict) -> None:
    """`node` (which now adds the Add's other operand itself) takes over the Add: its activation (PRelu's slope
    as `node`'s last input), its output; the Add goes."""
    if "activation" in add.attrs:
        node.attrs["activation"] = add.attrs["activation"]
        node.attrs["activation_params"] = add.attrs.get("activation_params", [])
        if add.attrs["activation"] == "PRelu":
            node.inputs.append(add.inputs[-1])
    node.outputs = [add.outputs[0]]
    producers[add.outputs[0]] = node
    remove(graph, add)


def transpose_perm(graph: Graph, node: Node) -> list[int]:
    """A Transpose's permutation: its `perm`, or ONNX's default (the axes reversed)."""
    perm = node.attrs.get("perm")
    return [int(p) for p in perm] if perm is not None else list(range(len(graph.tensors[node.inputs[0]].shape)))[::-1]


def slice_plan(graph: Graph, node: Node) -> list[tuple[int, int, int]] | None:
    """(first index, step, count) per axis of a Slice with constant bounds (attributes) and an input of known
    shape, else None (a bad Slice is left for the op's own check to refuse)."""
    from ..errors import ConvertError
    from ..ops import slice as slice_op

    shape = graph.tensors[node.inputs[0]].shape
    if node.op_type != "Slice" or len(node.inputs) != 1 or shape is None or \
            not all(isinstance(d, int) for d in shape):
        return None
    a = node.attrs
    try:
        return slice_op.plan(shape, a.get("starts"), a.get("ends"), a.get("axes"), a.get("steps"))
    except (ConvertError, TypeError):
        return None
