"""Shape inference over the IR: every tensor gets its shape and dtype from its producer's `infer`.

Constants carry their values into `TensorInfo.value`, and so does shape arithmetic that is left in a graph (Shape,
Gather, Concat, … of a tensor whose shape is known: ir/symbolic.values_of), so that a Reshape, Slice or Resize
whose parameters are computed that way (a dynamic form, ir/symbolic.resolve) has its shape inferred too. A graph
with symbolic input dims has no shapes of its own: ir/symbolic.specialize gives the graph of a concrete shape."""
from __future__ import annotations

from .. import ops
from ..errors import ConvertError, PymaceError
from ..ops.base import TensorInfo
from .graph import Graph, Node, Tensor


def infer_node(node: Node, infos: dict[str, TensorInfo]) -> list[TensorInfo]:
    """TensorInfo of each output of `node`, from the infos of its inputs (omitted inputs arrive as None)."""
    from .symbolic import resolve

    module = ops.get(node.op_type)
    if node.inputs and node.inputs[0] in infos:
        node = resolve(node, infos)
    try:
        ins = [infos[i] if i else None for i in node.inputs]
    except KeyError as e:
        raise ConvertError(f"node {node.name!r} ({node.op_type}) reads tensor {e.args[0]!r}, "
                           "which has no shape") from None
    try:
        results = module.infer(*ins, _op_type=node.op_type, **node.attrs)
    except PymaceError as e:
        raise ConvertError(f"node {node.name!r} ({node.op_type}): {e}") from e
    except Exception as e:  # a malformed model must not crash conversion: name the node instead
        raise ConvertError(f"shape inference failed at node {node.name!r} ({node.op_type}, inputs "
                           f"{[list(t.shape) if t else None for t in ins]}): {type(e).__name__}: {e}") from e
    if len(results) < len(node.outputs):
        raise ConvertError(f"node {node.name!r} ({node.op_type}) has {len(node.outputs)} outputs, "
                           f"its op gives {len(results)}")
    return [TensorInfo(tuple(int(d) for d in shape), str(dtype)) for shape, dtype in results]


def graph_infos(graph: Graph) -> dict[str, TensorInfo]:
    """TensorInfo of the graph's inputs and constants (the starting point of inference)."""
    infos = {n: TensorInfo(tuple(t.data.shape), str(t.data.dtype), t.data)
             for n, t in graph.tensors.items() if t.is_const}
    for name in graph.inputs:
        t = graph.tensors[name]
        if t.shape is None:
            raise ConvertError(f"input {name!r} has no shape; give one (input_shapes)")
        if any(isinstance(d, str) for d in t.shape):
            raise ConvertError(f"input {name!r} has symbolic dims {list(t.shape)}: shapes are inferred for a "
                               "concrete input shape (ir/symbolic.specialize)")
        infos[name] = TensorInfo(tuple(t.shape), t.dtype)
    return infos


def infer_shapes(graph: Graph) -> Graph:
    """Set shape and dtype of every tensor the nodes produce (in place; also returns the graph)."""
    from .symbolic import values_of

    graph.toposort()
    infos = graph_infos(graph)
    for node in graph.nodes:
        values = values_of(node, infos) or ()
        for k, (name, info) in enumerate(zip(node.outputs, infer_node(node, infos))):
            if not name:
                continue
            infos[name] = TensorInfo(info.shape, info.dtype, values[k]) if k < len(values) else info
            t = graph.tensors.get(name)
            if t is None:
                graph.tensors[name] = Tensor(name, info.shape, info.dtype)
            else:
                t.shape, t.dtype = info.shape, info.dtype
    for t in graph.tensors.values():
        if t.is_const:
            t.shape, t.dtype = tuple(t.data.shape), str(t.data.dtype)
    return graph
