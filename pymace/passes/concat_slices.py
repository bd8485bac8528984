"""A Concat of Slices of one tensor along the Concat's own axis becomes one Gather of that tensor with the slices'
indices, one after another: torch.roll exports as exactly this (x[-s:] and x[:-s], concatenated; Swin's shifted
windows roll twice a block, over two axes: 4 slices and 2 concats, 8 launches, become 2 Gathers). Each Slice must
cut that one axis only, with step 1 and constant bounds, and have no other reader; the indices are a new
constant of the Concat's output length."""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node
from .rewrite import new_const, remove, slice_plan, sole_consumer


def _range(graph: Graph, node: Node | None, axis: int) -> tuple[str, range] | None:
    """(the sliced tensor, the indices kept) of a Slice of one axis `axis` with step 1, else None."""
    plan = slice_plan(graph, node) if node is not None else None
    if plan is None:
        return None
    shape = graph.tensors[node.inputs[0]].shape
    if any(p != (0, 1, d) for k, (p, d) in enumerate(zip(plan, shape)) if k != axis):
        return None
    start, step, count = plan[axis]
    return (node.inputs[0], range(start, start + count)) if step == 1 and count > 0 else None


def _fuse(graph: Graph, concat: Node, producers: dict) -> bool:
    shape = graph.tensors[concat.outputs[0]].shape
    if not shape or len(concat.inputs) < 2:
        return False
    axis = int(concat.attrs.get("axis", 0)) % len(shape)
    slices = [producers.get(name) for name in concat.inputs]
    found = [_range(graph, s, axis) for s in slices]
    if any(f is None for f in found) or len({source for source, _ in found}) != 1 or \
            len(set(concat.inputs)) != len(concat.inputs):
        return False
    if not all(sole_consumer(graph, s.outputs[0], concat) for s in slices):
        return False
    indices = np.concatenate([np.arange(r.start, r.stop, dtype=np.int64) for _, r in found])
    concat.op_type, concat.attrs = "Gather", {"axis": axis}
    concat.inputs = [found[0][0], new_const(graph, concat.name + "_indices", indices)]
    remove(graph, *slices)
    return True


def run(graph: Graph) -> Graph:
    producers = graph.producers()
    for concat in [n for n in graph.nodes if n.op_type == "Concat"]:
        _fuse(graph, concat, producers)
    return graph
