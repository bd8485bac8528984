"""Constant folding: a node whose inputs are all constants runs once through its NumPy reference, and its
outputs become constants. This is how shape arithmetic (Shape → Gather → Concat → Reshape) disappears.

Folding is capped (PYMACE_FOLD_MAX_BYTES, default 256 MiB): a node whose outputs would take more stays in the
graph and runs on the device, so that a 250-byte model cannot make a gigabyte constant (Expand, Tile,
ConstantOfShape); an op with no kernel then says so, naming the cap."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..errors import ConvertError, PymaceError
from ..ir.graph import Graph, Node, Tensor


def foldable(node: Node, is_const) -> bool:
    """Whether `node` can be evaluated now: an op with a reference, every given input constant."""
    present = [i for i in node.inputs if i]
    module = ops.REGISTRY.get(node.op_type)
    return bool(present) and module is not None and hasattr(module, "reference") and all(map(is_const, present))


def fold_cap() -> int:
    from ..config import load

    return load().fold_max_bytes


def output_bytes(shapes_and_dtypes) -> int:
    """Bytes of outputs given as (shape, dtype) pairs."""
    total = 0
    for shape, dtype in shapes_and_dtypes:
        n = np.dtype(dtype).itemsize
        for d in shape:
            n *= int(d)
        total += n
    return total


def too_big(node: Node, infos) -> int | None:
    """The bytes folding `node` would make, when that is above the cap; else None. `infos` maps tensor names to
    TensorInfo (the inputs' shapes and values)."""
    from ..ir.shapes import infer_node

    made = output_bytes((i.shape, i.dtype) for i in infer_node(node, infos))
    return made if made > fold_cap() else None


def evaluate(node: Node, values: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run `node` through its reference on constant inputs."""
    args = [values[i] if i else None for i in node.inputs]
    try:
        results = ops.get(node.op_type).reference(*args, _op_type=node.op_type, **node.attrs)
    except PymaceError:
        raise
    except Exception as e:  # a malformed model must not crash conversion: name the node instead
        raise ConvertError(f"cannot evaluate constant node {node.name!r} ({node.op_type}): "
                           f"{type(e).__name__}: {e}") from e
    return [np.asarray(r) for r in results]


def run(graph: Graph) -> Graph:
    kept = []
    for node in graph.nodes:  # topological order: a folded output can make its consumer foldable
        if node.op_type == "Shape" and graph.tensors[node.inputs[0]].shape is not None:
            shape = np.array(graph.tensors[node.inputs[0]].shape, np.int64)[node.attrs.get("start", 0):
                                                                             node.attrs.get("end")]
            graph.tensors[node.outputs[0]] = Tensor(node.outputs[0], shape.shape, "int64", shape)
            continue
        if not foldable(node, lambda n: n in graph.tensors and graph.tensors[n].is_const) or output_bytes(
                (graph.tensors[o].shape, graph.tensors[o].dtype) for o in node.outputs if o) > fold_cap():
            kept.append(node)
            continue
        values = {i: graph.tensors[i].data for i in node.inputs if i}
        for name, value in zip(node.outputs, evaluate(node, values)):
            if name:
                graph.tensors[name] = Tensor(name, tuple(value.shape), str(value.dtype), value)
    graph.nodes = kept
    return graph
