"""The NumPy reference executor: walks the IR node by node with each op's `reference`. It is the ground truth
for kernel tests and is itself checked against onnxruntime / LiteRT on real models."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..feeds import check_feeds
from ..ir import symbolic
from ..ir.graph import Graph


def check_inputs(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Validate names, dtypes and shapes of the user's inputs (pymace/feeds.py); return them as arrays of the
    model's dtypes."""
    return check_feeds(graph, feeds)


def run(graph: Graph, feeds: dict[str, np.ndarray], keep: bool = False) -> dict[str, np.ndarray]:
    """Run the graph; return its outputs (or every tensor when `keep`, for node-by-node diffs)."""
    feeds = check_inputs(graph, feeds)
    if symbolic.is_symbolic(graph):  # the graph of these input shapes
        graph = symbolic.specialize(graph, {n: x.shape for n, x in feeds.items()})
    values: dict[str, np.ndarray | None] = {"": None}
    consts = graph.consts()
    values.update(consts)
    values.update(feeds)
    consumers_left = {}
    for n in graph.nodes:
        for i in n.inputs:
            consumers_left[i] = consumers_left.get(i, 0) + 1
    for node in graph.nodes:
        results = ops.get(node.op_type).reference(*[values[i] for i in node.inputs], _op_type=node.op_type,
                                                     **node.attrs)
        for name, r in zip(node.outputs, results):
            values[name] = r
        if not keep:  # free activations nobody reads any more
            for i in node.inputs:
                consumers_left[i] -= 1
                if consumers_left[i] == 0 and i not in graph.outputs and i not in consts:
                    values.pop(i, None)
    if keep:
        return {k: v for k, v in values.items() if k}
    return {o: values[o] for o in graph.outputs}
