"""The NumPy reference executor: walks the IR node by node with each op's `reference`. It is the ground truth
for kernel tests and is itself checked against onnxruntime / LiteRT on real models."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import ops
from ..errors import InputError
from ..ir.graph import Graph


def check_inputs(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Validate names and shapes of the user's inputs; return them as float32 arrays."""
    if not isinstance(feeds, Mapping) or not all(isinstance(k, str) for k in feeds):
        raise InputError(f"inputs must be a dict {{input name: array}} (the model's inputs are {graph.inputs}), "
                         f"not {type(feeds).__name__}")
    unknown = sorted(set(feeds) - set(graph.inputs))
    if unknown:
        raise InputError(f"unknown input(s) {unknown}; the model's inputs are {graph.inputs}")
    out = {}
    for name in graph.inputs:
        if name not in feeds:
            raise InputError(f"missing input {name!r}; the model's inputs are {graph.inputs}")
        x, want, dtype = np.asarray(feeds[name]), graph.tensors[name].shape, graph.tensors[name].dtype
        if np.dtype(dtype).kind in "biuf" and x.dtype.kind not in "biuf":  # strings, complex: no number to cast to
            raise InputError(f"input {name!r} has dtype {x.dtype}; the model expects {dtype}")
        if want is not None and tuple(x.shape) != tuple(want):
            raise InputError(f"input {name!r} has shape {list(x.shape)}, the model expects {list(want)}")
        out[name] = x.astype(dtype, copy=False)
    return out


def run(graph: Graph, feeds: dict[str, np.ndarray], keep: bool = False) -> dict[str, np.ndarray]:
    """Run the graph; return its outputs (or every tensor when `keep`, for node-by-node diffs)."""
    values: dict[str, np.ndarray | None] = {"": None}
    consts = graph.consts()
    values.update(consts)
    values.update(check_inputs(graph, feeds))
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
