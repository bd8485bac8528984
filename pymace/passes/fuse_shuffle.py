"""ShuffleNet's channel shuffle and channel splits without launches of their own (ops/conv_fusion.py):
  1. Reshape [N, G, C/G, H, W] → Transpose [0, 2, 1, 3, 4] → Reshape [N, C, H, W] after a conv becomes the conv's
     `shuffle_groups` G: it stores each channel where the shuffle puts it (a Transpose launch fewer a unit).
  2. Slice(y, channels c0 .. c1-1) read only by convs (as input 0: `input_channels`) or as a fused conv's prefix
     (`prefix_channels`) disappears: each reader reads those channels of y (two Slice launches fewer a unit).

A plan-time pass for GPUs (passes.for_device), after fuse_concat, which folds the unit's Concat into the conv
the shuffle follows. The conv qualifies as for fuse_concat; a reading Conv has one group, no channel view yet and
no forced kernel other than conv_gemm (a SeparableConv: no forced kernel); intermediate tensors have one reader
and are no graph outputs."""
from __future__ import annotations

from ..ir.graph import Graph, Node
from .fuse_concat import takes_output_fusion
from .rewrite import readers, remove, sole_consumer


def shuffle_after(graph: Graph, conv: Node, producers: dict) -> tuple[int, list[Node]] | None:
    """(G, the three nodes) when the conv's (or any node's) output is channel-shuffled in G groups and read only so."""
    y = conv.outputs[0]
    shape = graph.tensors[y].shape
    nodes = [n for n in graph.nodes if y in n.inputs]
    if len(shape) != 4 or len(nodes) != 1 or nodes[0].op_type != "Reshape" or not sole_consumer(graph, y, nodes[0]):
        return None
    r1 = nodes[0]
    split = graph.tensors[r1.outputs[0]].shape
    if len(split) != 5 or split[0] != shape[0] or split[1] * split[2] != shape[1] or split[3:] != shape[2:]:
        return None
    chain = [r1]
    for op_type in ("Transpose", "Reshape"):
        after = [n for n in graph.nodes if chain[-1].outputs[0] in n.inputs]
        if len(after) != 1 or after[0].op_type != op_type or not sole_consumer(graph, chain[-1].outputs[0], after[0]):
            return None
        chain.append(after[0])
    if list(chain[1].attrs.get("perm", ())) != [0, 2, 1, 3, 4] or graph.tensors[chain[2].outputs[0]].shape != shape:
        return None
    return split[1], chain


def _channel_slice(graph: Graph, node: Node) -> tuple[int, int] | None:
    """(c0, c1) when `node` slices channels c0 .. c1-1 of a 4-D tensor, step 1."""
    a, shape = node.attrs, graph.tensors[node.inputs[0]].shape
    if node.op_type != "Slice" or len(node.inputs) != 1 or shape is None or len(shape) != 4:
        return None
    axes, steps = list(a.get("axes") or range(len(a.get("starts", ())))), list(a.get("steps") or [1])
    if [x % 4 for x in axes] != [1] or steps != [1] or len(a.get("starts", ())) != 1:
        return None
    c = shape[1]
    c0, c1 = (max(0, min(c, v + c if v < 0 else v)) for v in (int(a["starts"][0]), int(a["ends"][0])))
    return (c0, c1) if c0 < c1 else None


def _reads_view(node: Node, name: str) -> str | None:
    """How `node` can read `name` as a channel view: "input" (its input 0), "prefix", or None."""
    a, fused = node.attrs, list(node.attrs.get("fused_inputs") or ())
    if node.inputs.count(name) != 1:
        return None
    conv = node.op_type == "SeparableConv" or (node.op_type == "Conv" and a.get("group", 1) == 1)
    if conv and node.inputs[0] == name and a.get("input_channels") is None \
            and a.get("kernel_variant") in (None, "conv_gemm"):
        return "input"
    if fused and fused[-1] == "prefix" and node.inputs[-1] == name and a.get("prefix_channels") is None:
        return "prefix"
    return None


def _fold_slices(graph: Graph) -> None:
    for node in [n for n in graph.nodes if n.op_type == "Slice"]:
        found, out = _channel_slice(graph, node), node.outputs[0]
        users = readers(graph, out)
        if found is None or out in graph.outputs or not users or any(_reads_view(u, out) is None for u in users):
            continue
        for user in users:
            if _reads_view(user, out) == "input":
                user.attrs["input_channels"] = list(found)
                user.inputs[0] = node.inputs[0]
            else:
                user.attrs["prefix_channels"] = list(found)
                user.inputs[-1] = node.inputs[0]
        graph.tensors.pop(out, None)
        remove(graph, node)


def run(graph: Graph) -> Graph:
    producers = graph.producers()
    for conv in [n for n in graph.nodes if takes_output_fusion(n, has_prefix_already=True)]:
        found = shuffle_after(graph, conv, producers)
        if found is None:
            continue
        groups, chain = found
        conv.attrs["shuffle_groups"] = int(groups)
        for n in chain:
            graph.tensors.pop(n.inputs[0], None)
        conv.outputs = [chain[-1].outputs[0]]
        remove(graph, *chain)
    _fold_slices(graph)
    return graph
