"""Concats along channels without launches of their own: the convs that make a Concat's inputs write into its
output (ops/conv_fusion.py `out_offset`), or the conv that makes its last input writes the whole Concat, copying
the input before it in (`prefix`). A Concat's copy kernel launches once per input: DenseNet-121 has 597 such
launches, GoogLeNet 36, ShuffleNetV2 32, SqueezeNet 16.
  1. Concat(x) of one input is x.
  2. Concat(a, b, …, z) whose first inputs are another Concat's inputs becomes Concat(that Concat, …, z): DenseNet's
     Concat(f0 … fk) is Concat(Concat(f0 … fk-1), fk), the same copies in two inputs.
  3. A Concat all of whose inputs are made by convs that only it reads is done in place: each conv writes its
     channels at their offset of the Concat's output (out_offset / out_channels) and the Concat, `in_place`,
     launches nothing (runtime/plan.py gives the convs' outputs the Concat's buffer): GoogLeNet, SqueezeNet.
  4. Else Concat(p, v), v made by a conv that only this Concat reads, becomes the conv with the prefix p.
The prefix's bytes are copied by the conv's work-items, as the Concat copied them. A Concat of more inputs that
cannot be done in place stays a launch: folding it into its last conv, then the rest into the conv before, copies
the earlier inputs again at each step, and on the H200 GoogLeNet's four-branch Concats ran slower that way than as
launches (benchmarks/NOTES.md).

A plan-time pass for GPUs (passes.for_device). The conv is a Conv of one group or a SeparableConv (conv_gemm runs
both), with no forced kernel other than conv_gemm, no prefix, shuffle or output offset yet; the Concat joins 4-D
tensors along axis 1."""
from __future__ import annotations

from ..ir.graph import Graph, Node
from .rewrite import bypass, remove, sole_consumer


def _channel_concat(graph: Graph, node: Node) -> bool:
    shape = graph.tensors[node.outputs[0]].shape
    return (node.op_type == "Concat" and shape is not None and len(shape) == 4
            and node.attrs.get("axis", 1) % 4 == 1 and all(node.inputs))


def takes_output_fusion(node: Node | None, has_prefix_already: bool = False) -> bool:
    """Whether `node` is a conv whose conv_gemm kernel can take a prefix (or, `has_prefix_already`, a shuffle of
    the output it has)."""
    if node is None or node.op_type not in ("Conv", "SeparableConv") or len(node.outputs) != 1:
        return False
    a = node.attrs
    return ((node.op_type == "SeparableConv" or a.get("group", 1) == 1)
            and a.get("kernel_variant") in (None, "conv_gemm")
            and (has_prefix_already or "prefix" not in (a.get("fused_inputs") or ()))
            and a.get("shuffle_groups", 1) == 1 and a.get("out_offset") is None)


def _drop_single(graph: Graph) -> None:
    for node in [n for n in graph.nodes if _channel_concat(graph, n) and len(n.inputs) == 1]:
        bypass(graph, node, node.inputs[0])


def _chain(graph: Graph) -> None:
    """Step 2: a Concat whose leading inputs are another Concat's inputs reads that Concat instead."""
    concats = [n for n in graph.nodes if _channel_concat(graph, n)]
    by_inputs = {tuple(n.inputs): n for n in concats}
    for node in concats:
        for m in range(len(node.inputs) - 1, 1, -1):
            head = by_inputs.get(tuple(node.inputs[:m]))
            if head is not None and head is not node and head.attrs.get("axis", 1) % 4 == 1:
                node.inputs = [head.outputs[0], *node.inputs[m:]]
                break
    graph.toposort()


def _in_place(graph: Graph, concat: Node, producers: dict) -> bool:
    """Step 3, when it applies: each input's conv takes its offset into the Concat's output. Not for a Concat
    whose output is channel-shuffled: as a prefix copy, the shuffle fuses into the conv (ShuffleNetV2's units)."""
    from .fuse_shuffle import shuffle_after  # it builds on this module

    convs = [producers.get(i) for i in concat.inputs]
    if shuffle_after(graph, concat, producers) is not None:
        return False
    if len(set(concat.inputs)) != len(concat.inputs) or not all(
            takes_output_fusion(conv) and not conv.attrs.get("residual") and sole_consumer(graph, name, concat)
            for conv, name in zip(convs, concat.inputs)):
        return False
    total, offset = graph.tensors[concat.outputs[0]].shape[1], 0
    for conv, name in zip(convs, concat.inputs):
        conv.attrs |= {"out_offset": offset, "out_channels": total}
        offset += graph.tensors[name].shape[1]
    concat.attrs["in_place"] = True
    return True


def _fuse_one(graph: Graph, concat: Node, producers: dict) -> None:
    """Fold the two-input `concat` into the conv making its last input, when that conv can take it."""
    last = concat.inputs[-1]
    conv = producers.get(last)
    if (not takes_output_fusion(conv) or concat.inputs.count(last) != 1 or last in concat.inputs[:-1]
            or not sole_consumer(graph, last, concat)):
        return
    prefix = concat.inputs[0]
    conv.inputs = [*conv.inputs, prefix]
    conv.attrs["fused_inputs"] = [*(conv.attrs.get("fused_inputs") or ()), "prefix"]
    graph.tensors.pop(last, None)
    conv.outputs = [concat.outputs[0]]
    producers[concat.outputs[0]] = conv
    remove(graph, concat)


def run(graph: Graph) -> Graph:
    _drop_single(graph)
    _chain(graph)
    producers = graph.producers()
    for concat in [n for n in graph.nodes if _channel_concat(graph, n) and len(n.inputs) >= 2]:
        if not _in_place(graph, concat, producers) and len(concat.inputs) == 2:
            _fuse_one(graph, concat, producers)
    graph.toposort()
    return graph
