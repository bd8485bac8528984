"""Fuse what scales the input of a one-group Conv into the Conv's prologue (ops/conv_fusion.py), so that conv_gemm
applies it while it loads the input and the scaled tensor never goes through memory:
  Conv(x · s)                       s [N, C, 1, 1]: a squeeze-excitation scale (after passes/fuse_se.py)
  Conv(act(BatchNormalization(x)))  act none or Relu: DenseNet's pre-activation (BN → ReLU → conv), 61 of them
                                    in DenseNet-121, each a launch of its own otherwise
  Conv1x1(MaxPool_kxk,s1(x))        GoogLeNet's fourth inception branch (9 of them): `prologue_max_pool`
become Conv(x) with `prologue_scale` (and `prologue_shift`, `prologue_activation`). The padding stays 0, as it is
for the scaled tensor.

A plan-time pass for GPUs (passes.for_device). It applies when the scaled tensor is read only by the Conv, once,
as its input 0, and is no graph output; the Conv has one group (conv_gemm runs it), no prologue yet, no fused
channel view and no forced kernel other than conv_gemm; BatchNormalization has constant parameters."""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node
from ..ops.geometry import conv_window
from .rewrite import const, new_const, remove, sole_consumer


def _conv_takes_prologue(graph: Graph, conv: Node) -> bool:
    a = conv.attrs
    x = graph.tensors[conv.inputs[0]]
    return (conv.op_type == "Conv" and a.get("group", 1) == 1 and a.get("kernel_variant") in (None, "conv_gemm")
            and not a.get("fused_inputs") and a.get("input_channels") is None and x.shape is not None
            and a.get("prologue_max_pool") is None
            and len(x.shape) == 4 and conv.inputs.count(conv.inputs[0]) == 1
            and sole_consumer(graph, conv.inputs[0], conv))


def _scale(graph: Graph, mul: Node) -> tuple[str, str] | None:
    """(x, s) when `mul` = x · s with s one value per image and channel of x."""
    if mul.op_type != "Mul" or len(mul.inputs) != 2 or "activation" in mul.attrs:
        return None
    for x, s in (mul.inputs, mul.inputs[::-1]):
        xs, ss = graph.tensors[x].shape, graph.tensors[s].shape
        if xs is not None and len(xs) == 4 and ss in ((xs[0], xs[1], 1, 1), (1, xs[1], 1, 1)) and x != s \
                and xs == graph.tensors[mul.outputs[0]].shape:
            return x, s
    return None


def _batch_norm(graph: Graph, bn: Node) -> tuple[str, np.ndarray, np.ndarray] | None:
    """(x, scale, shift) of a BatchNormalization with constant parameters and no activation or Relu."""
    if bn.op_type != "BatchNormalization" or bn.attrs.get("activation") not in (None, "Relu"):
        return None
    params = [const(graph, i) for i in bn.inputs[1:5]]
    if len(params) != 4 or any(p is None for p in params):
        return None
    gamma, beta, mean, var = (np.asarray(p, np.float64).reshape(-1) for p in params)
    scale = gamma / np.sqrt(var + float(bn.attrs.get("epsilon", 1e-5)))
    return bn.inputs[0], scale.astype(np.float32), (beta - mean * scale).astype(np.float32)


def _max_pool(graph: Graph, pool: Node, conv: Node) -> int | None:
    """k when `pool` is a k x k max pool of stride 1 keeping the map's size and `conv` a plain 1x1 conv."""
    a = pool.attrs
    k = list(a.get("kernel_shape") or ())
    if pool.op_type != "MaxPool" or len(pool.outputs) > 1 and pool.outputs[1] or len(k) != 2 or k[0] != k[1] \
            or k[0] % 2 == 0 or list(a.get("strides") or [1, 1]) != [1, 1] or a.get("auto_pad", "NOTSET") != "NOTSET" \
            or list(a.get("pads") or [0] * 4) != [k[0] // 2] * 4 or list(a.get("dilations") or [1, 1]) != [1, 1]:
        return None
    c = conv.attrs
    w = graph.tensors[conv.inputs[1]].shape
    win = conv_window(graph.tensors[conv.inputs[0]].shape, w, 1, c.get("kernel_shape"), c.get("strides"),
                      c.get("pads"), c.get("dilations"), c.get("auto_pad", "NOTSET"))
    plain = win.kernel == (1, 1) and win.strides == (1, 1) and not any(win.pads)
    return k[0] if plain and "residual" not in c else None


def run(graph: Graph, kinds=("batch_norm", "max_pool")) -> Graph:
    """The prologues of `kinds` ("scale", "batch_norm", "max_pool"): the scale has a pass of its own
    (fuse_scale_prologue.py), on by default where these are not."""
    producers = graph.producers()
    for conv in [n for n in graph.nodes if n.op_type == "Conv"]:
        node = producers.get(conv.inputs[0])
        if node is None or not _conv_takes_prologue(graph, conv):
            continue
        found = _scale(graph, node) if "scale" in kinds else None
        if found is not None:
            x, extra, names = found[0], [found[1]], ["prologue_scale"]
        elif "batch_norm" in kinds and (bn := _batch_norm(graph, node)) is not None:
            x, scale, shift = bn
            extra = [new_const(graph, f"{node.name}/prologue_scale", scale),
                     new_const(graph, f"{node.name}/prologue_shift", shift)]
            names = ["prologue_scale", "prologue_shift"]
            if node.attrs.get("activation") == "Relu":
                conv.attrs["prologue_activation"] = "Relu"
        elif "max_pool" in kinds and (k := _max_pool(graph, node, conv)) is not None:
            x, extra, names = node.inputs[0], [], []
            conv.attrs["prologue_max_pool"] = k
        else:
            continue
        graph.tensors.pop(conv.inputs[0], None)
        conv.inputs = [x, *conv.inputs[1:], *extra]
        if names:
            conv.attrs["fused_inputs"] = names
        remove(graph, node)
    return graph
