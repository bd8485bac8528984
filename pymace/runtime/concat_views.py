"""Concats and Splits without copies: each input of a Concat is made straight into its place in the Concat's
output, and each output of a Split is read where it lies in the Split's input.

When every dim before a Concat's axis is 1 (a batch-1 channel Concat, say), each input is one contiguous run of
the output's elements, so its producer can write there through a sub-buffer of the output's buffer, and its
readers read it there: the Concat launches nothing and no byte is copied. Concats nest: DenseNet's
Concat(Concat(f0 … fk-1), fk) puts the inner Concat at the start of the outer one, and so every feature of a
dense block lives once, in the block's last Concat (passes/fuse_concat.py step 2 makes that chain). A Concat
qualifies only as a whole: every input an activation that owns its buffer (not a graph input or output, not a
constant, not a reinterpreting op's output or source), read by no other Concat, and starting at a multiple of the
device's sub-buffer alignment. A batch-1 Split mirrors it (split_views): its outputs are runs of its input,
read through sub-buffers of the input's buffer, which then lives as long as their readers; an output qualifies
when it is no graph output, no reinterpreting op's output or source, and not already a Concat's input in place.
On for CPU plans; a GPU plan's Concats are fused by passes/fuse_concat.py, and
views of what it leaves are not measured there yet, so they are off for GPUs unless PYMACE_CONCAT_VIEWS=1
(PYMACE_CONCAT_VIEWS=0 turns them off everywhere: benchmarks)."""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node


def plan_views(graph: Graph, alias: dict, itemsize, align: int) -> dict[str, tuple[str, int, int]]:
    """tensor → (the tensor whose buffer holds it, element offset there, elements) for every input of every
    Concat laid out in place; `itemsize(name)` is a tensor's bytes an element on the device."""
    if align <= 0:
        return {}
    concats = [n for n in graph.nodes if n.op_type == "Concat" and _contiguous_parts(graph, n)]
    concat_readers: dict[str, int] = {}
    for node in graph.nodes:
        for name in set(node.inputs):
            concat_readers[name] = concat_readers.get(name, 0) + (node.op_type == "Concat")
    aliased = set(alias) | set(alias.values())
    outside = set(graph.inputs) | set(graph.outputs)
    relative = {}
    for concat in concats:
        parts = _parts(graph, concat)
        if all(n > 0 and name not in outside and name not in aliased and not graph.tensors[name].is_const and
               concat_readers.get(name) == 1 for name, _, n in parts):  # one Concat each: one place each
            relative.update({name: (concat.outputs[0], at, n) for name, at, n in parts})
    while True:  # a Concat whose input would start off the alignment is copied after all, and so is its nest
        views = {name: _resolve(relative, name) for name in relative}
        bad = {relative[name][0] for name, (_, at, _) in views.items() if (at * itemsize(name)) % align}
        if not bad:
            return views
        relative = {name: v for name, v in relative.items() if v[0] not in bad}


def split_views(graph: Graph, alias: dict, views: dict, itemsize, align: int) -> dict[str, tuple[str, int, int]]:
    """output → (the Split's input, element offset there, elements) for every output of every Split read in place
    (each Split as a whole, or not at all); `views` are the Concat views already laid out."""
    if align <= 0:
        return {}
    aliased = set(alias) | set(alias.values())
    outside = set(graph.inputs) | set(graph.outputs)
    found = {}
    for node in graph.nodes:
        if node.op_type != "Split" or not node.inputs or not _contiguous_input(graph, node):
            continue
        x = node.inputs[0]
        if x in outside or x in aliased or x in views or graph.tensors[x].is_const:
            continue
        parts = _parts_of(graph, node.outputs)
        if all(n > 0 and name not in outside and name not in aliased and name not in views and
               (at * itemsize(name)) % align == 0 for name, at, n in parts):
            found.update({name: (x, at, n) for name, at, n in parts})
    return found


def _contiguous_input(graph: Graph, node: Node) -> bool:
    shape = graph.tensors[node.inputs[0]].shape
    if not shape or not all(isinstance(d, int) for d in shape) or len(set(node.outputs)) != len(node.outputs):
        return False
    axis = int(node.attrs.get("axis", 0)) % len(shape)
    return int(np.prod(shape[:axis], dtype=np.int64)) == 1 and all(node.outputs)


def _contiguous_parts(graph: Graph, node: Node) -> bool:
    shape = graph.tensors[node.outputs[0]].shape
    if not shape or not all(isinstance(d, int) for d in shape) or len(set(node.inputs)) != len(node.inputs):
        return False
    axis = int(node.attrs.get("axis", 0)) % len(shape)
    return int(np.prod(shape[:axis], dtype=np.int64)) == 1 and all(node.inputs)


def _parts(graph: Graph, concat: Node) -> list[tuple[str, int, int]]:
    """(input, element offset in the output, elements) of each input, in order."""
    return _parts_of(graph, concat.inputs)


def _parts_of(graph: Graph, names: list[str]) -> list[tuple[str, int, int]]:
    out, at = [], 0
    for name in names:
        n = int(np.prod(graph.tensors[name].shape, dtype=np.int64))
        out.append((name, at, n))
        at += n
    return out


def _resolve(relative: dict, name: str) -> tuple[str, int, int]:
    """(root tensor, offset in the root, elements): a view of a view is a view of the outer buffer."""
    root, at, n = relative[name]
    while root in relative:
        root, outer_at, _ = relative[root]
        at += outer_at
    return root, at, n


__all__ = ["plan_views", "split_views"]
