"""A GPU plan's fusion: a MatMul reads an operand that Transposes and scalar Gathers (with the Reshapes, Squeezes
and Unsqueezes around them) made out of one tensor straight from that tensor, through a strided view (pymace's
MatMul attributes `a_view`, `b_view`: ops/strided.py; docs/ir.md), instead of through their copies. Attention
exports split a packed q·k·v product and permute it into heads right before the products (ViT-B/16: a Transpose,
three Gathers and four head Transposes a layer); the gemm kernels read any operand through strides and per-batch
offsets, so the copies and their launches go. The chain is followed back from the MatMul as far as each step can
be expressed as strides (a Reshape that merges dims which are not contiguous with each other ends it) and must
hold a Transpose or a Gather; nodes whose outputs nobody reads any more are removed."""
from __future__ import annotations

from ..ir.graph import Graph, Node
from ..ops.strided import contiguous_strides, reshape_strides
from .rewrite import const, remove, transpose_perm

RESHAPES = ("Reshape", "Squeeze", "Unsqueeze", "Flatten")
COPIES = ("Transpose", "Gather")


def run(graph: Graph) -> Graph:
    producers = graph.producers()
    for matmul in [n for n in graph.nodes if n.op_type == "MatMul"]:
        for k, attr in ((0, "a_view"), (1, "b_view")):
            if attr not in matmul.attrs and matmul.inputs[:2].count(matmul.inputs[k]) == 1:
                found = _longest_view(graph, producers, matmul.inputs[k])
                if found is not None:
                    matmul.inputs[k], matmul.attrs[attr] = found
    _remove_unread(graph)
    return graph


def _chain(producers: dict, name: str) -> list[Node]:
    """The view-making nodes that lead to tensor `name`, nearest first."""
    chain = []
    while (node := producers.get(name)) is not None and node.op_type in RESHAPES + COPIES:
        chain.append(node)
        name = node.inputs[0]
    return chain


def _longest_view(graph: Graph, producers: dict, name: str):
    """(source tensor, view) for the longest chain of nodes before `name` that strides can express, or None."""
    chain = _chain(producers, name)
    for start in range(len(chain), 0, -1):
        steps = chain[:start][::-1]  # source first
        source = graph.tensors[steps[0].inputs[0]]
        if not any(s.op_type in COPIES for s in steps) or source.is_const or not _known(source.shape):
            continue
        view = {"shape": [int(d) for d in source.shape], "strides": contiguous_strides(source.shape), "offset": 0}
        for step in steps:
            view = _through(graph, step, view)
            if view is None:
                break
        if view is not None:
            return steps[0].inputs[0], view
    return None


def _known(shape) -> bool:
    return shape is not None and len(shape) >= 1 and all(isinstance(d, int) and d > 0 for d in shape)


def _through(graph: Graph, node: Node, view: dict) -> dict | None:
    """The view of `node`'s output, given the view of its input; None when strides cannot express it."""
    out = graph.tensors[node.outputs[0]].shape
    if not _known(out):
        return None
    shape, strides, offset = view["shape"], view["strides"], view["offset"]
    if node.op_type in RESHAPES:
        new = reshape_strides(shape, strides, out)
        return None if new is None else {"shape": list(out), "strides": new, "offset": offset}
    if node.op_type == "Transpose":
        perm = transpose_perm(graph, node)
        return {"shape": [shape[p] for p in perm], "strides": [strides[p] for p in perm], "offset": offset}
    index = const(graph, node.inputs[1])  # Gather: one constant index is a slice of one axis
    if index is None or index.size != 1 or index.ndim > 1:
        return None
    axis = int(node.attrs.get("axis", 0)) % len(shape)
    at = int(index.reshape(-1)[0])
    at = at + shape[axis] if at < 0 else at
    if not 0 <= at < shape[axis]:
        return None
    keep = index.ndim == 1  # a 1-D index keeps the axis, of size 1
    dims = [d for i, d in enumerate(shape) if i != axis or keep]
    steps = [s for i, s in enumerate(strides) if i != axis or keep]
    if keep:
        dims[axis] = 1
    return {"shape": dims, "strides": steps, "offset": offset + at * strides[axis]}


def _remove_unread(graph: Graph) -> None:
    """Remove view-making nodes whose outputs nobody reads any more (repeatedly: a chain goes whole)."""
    while True:
        read = {name for n in graph.nodes for name in n.inputs} | set(graph.outputs)
        dead = [n for n in graph.nodes if n.op_type in RESHAPES + COPIES and not any(o in read for o in n.outputs)]
        if not dead:
            return
        remove(graph, *dead)
