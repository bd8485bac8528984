"""Recognise layer normalisation written out in primitive ops and replace it with one LayerNormalization node:
  d = x - ReduceMean(x, axes)                          axes: the last k dims, keepdims
  y = d / Sqrt(ReduceMean(d², axes) + epsilon)         d² as Pow(d, 2) or d · d
  (· gamma) (+ beta)                                   constants, per element of the normalised dims
(PaddleOCR's SVTR exports, e.g. PP-OCRv4's recogniser, and older torch exports.) Every intermediate must be read
only by the pattern, so nothing else loses a tensor; without gamma the scale is ones."""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node
from .rewrite import const, new_const, remove, scalar, sole_consumer


class _Match:
    def __init__(self, graph: Graph):
        self.graph, self.producers = graph, graph.producers()

    def inner(self, name: str, by: Node, op_types: tuple[str, ...]) -> Node | None:
        """The producer of `name` if it is one of `op_types`, has no fused extras and `by` is its only reader."""
        node = self.producers.get(name)
        ok = node is not None and node.op_type in op_types and "activation" not in node.attrs and \
            sole_consumer(self.graph, name, by)
        return node if ok else None

    def trailing_axes(self, node: Node, rank: int) -> int | None:
        """The first normalised axis when `node` is a keepdims ReduceMean over the last dims, else None."""
        if node.attrs.get("keepdims", 1) != 1 or node.attrs.get("noop_with_empty_axes", 0):
            return None
        axes = sorted(int(a) % rank for a in node.attrs.get("axes") or range(rank))
        return axes[0] if axes == list(range(axes[0], rank)) else None

    def normalised(self, div: Node) -> tuple[str, int, float, list[Node]] | None:
        """(x, axis, epsilon, nodes) when `div` = (x - mean(x)) / sqrt(mean((x - mean(x))²) + epsilon)."""
        if div.op_type != "Div" or "activation" in div.attrs:
            return None
        sub = self.producers.get(div.inputs[0])
        sqrt = self.inner(div.inputs[1], div, ("Sqrt",))
        add = sqrt and self.inner(sqrt.inputs[0], sqrt, ("Add",))
        if sub is None or sub.op_type != "Sub" or add is None:
            return None
        var_name, eps = next(((v, scalar(self.graph, e)) for v, e in (add.inputs, add.inputs[::-1])
                              if scalar(self.graph, e) is not None), (None, None))
        var = var_name and self.inner(var_name, add, ("ReduceMean",))
        square = var and self.inner(var.inputs[0], var, ("Pow", "Mul"))
        if square is None or not self._is_square(square, sub.outputs[0]):
            return None
        readers = {id(n) for n in self.graph.nodes if sub.outputs[0] in n.inputs}
        x, mean = sub.inputs
        mean_node = self.inner(mean, sub, ("ReduceMean",))
        rank = len(self.graph.tensors[x].shape)
        if readers != {id(div), id(square)} or mean_node is None or mean_node.inputs[0] != x:
            return None
        axis = self.trailing_axes(mean_node, rank)
        if axis is None or axis != self.trailing_axes(var, rank) or eps < 0:
            return None
        return x, axis, eps, [mean_node, sub, square, var, add, sqrt]

    def _is_square(self, node: Node, d: str) -> bool:
        if node.op_type == "Pow":
            return node.inputs[0] == d and scalar(self.graph, node.inputs[1]) == 2.0
        return node.inputs == [d, d]

    def affine(self, name: str, by: Node, op_type: str, x_shape, axis: int) -> tuple[Node, np.ndarray] | None:
        """The Mul (gamma) or Add (beta) after `name`, and its constant as a normalised-dims array."""
        node = next((n for n in self.graph.nodes if name in n.inputs), None)
        if node is None or node.op_type != op_type or "activation" in node.attrs or \
                not sole_consumer(self.graph, name, node):
            return None
        value = const(self.graph, node.inputs[1] if node.inputs[0] == name else node.inputs[0])
        tail = tuple(x_shape[axis:])
        if value is None or value.dtype != np.float32 or value.ndim > len(x_shape) or \
                any(d != 1 for d in value.shape[:max(0, value.ndim - len(tail))]):
            return None
        value = value.reshape(value.shape[max(0, value.ndim - len(tail)):])
        try:
            full = np.broadcast_to(value, tail)
        except ValueError:
            return None
        return node, np.ascontiguousarray(full)


def run(graph: Graph) -> Graph:
    for div in [n for n in graph.nodes if n.op_type == "Div"]:
        m = _Match(graph)
        if div not in graph.nodes or graph.tensors[div.outputs[0]].dtype != "float32":
            continue
        found = m.normalised(div)
        if found is None:
            continue
        x, axis, eps, absorbed = found
        shape = graph.tensors[x].shape
        last, scale, bias = div, np.ones(shape[axis:], np.float32), None
        mul = m.affine(div.outputs[0], div, "Mul", shape, axis)
        if mul is not None:
            absorbed.append(last)
            last, scale = mul
            add = m.affine(last.outputs[0], last, "Add", shape, axis)
            if add is not None:
                absorbed.append(last)
                last, bias = add
        remove(graph, *absorbed)
        inputs = [x, new_const(graph, f"{last.name}/scale", scale)]
        inputs += [new_const(graph, f"{last.name}/bias", bias)] if bias is not None else []
        last.op_type, last.inputs, last.attrs = "LayerNormalization", inputs, {"axis": axis, "epsilon": eps}
    return graph
