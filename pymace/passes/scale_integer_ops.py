"""Move the scale of an integer accumulation in front of it, so the integers are never stored.

ONNX's dynamically quantized graphs (onnxruntime's quantize_dynamic) compute ConvInteger / MatMulInteger in
int32 — pymace: the exact float Conv / MatMul of integer operands, then Cast to int32 — add int32 biases, Cast
to float and multiply by a one-element scale s. Those integers pass fp16's range (ddddocr's reach 1.2e5, fp16
ends at 65504), so in fp16 storage they would be infinite. With s a scalar, by linearity

    Mul(Cast_float(Cast_int32(Conv(x, w)) + b₁ + …), s)   →   Conv(x · s, w) + Cast_float(b₁) · s + …

which fp32 computes to within float rounding and whose stored values are the model's real-valued ones. The
rewrite applies only where x and w are integer-valued (x a Cast from an integer tensor, or a Sub/Add of such;
w an integer-valued constant) and every intermediate is read only by the pattern."""
from __future__ import annotations

import math

import numpy as np

from ..ir.graph import Graph, Node, Tensor
from .rewrite import remove, sole_consumer

_INT32, _FLOAT = 6, 1  # ONNX TensorProto element types


def _integral(graph: Graph, producers: dict, name: str, depth: int = 3) -> bool:
    """Whether tensor `name` holds integers by construction."""
    t = graph.tensors.get(name)
    if t is not None and t.is_const:
        return bool(np.all(np.isfinite(t.data)) and np.all(t.data == np.round(t.data)))
    node = producers.get(name)
    if node is None or depth == 0:
        return False
    if node.op_type == "Cast":
        source = graph.tensors.get(node.inputs[0])
        return source is not None and not source.dtype.startswith("float")
    return node.op_type in ("Sub", "Add") and all(_integral(graph, producers, i, depth - 1) for i in node.inputs)


def _accumulation(graph: Graph, producers: dict, name: str, by: Node):
    """(exact Conv/MatMul, the Cast and Add nodes, the int32 addends) when int32 tensor `name`, read only by
    `by`, is Cast_int32(Conv/MatMul(x, w)) + addends; else None."""
    node = producers.get(name)
    if node is None or not sole_consumer(graph, name, by):
        return None
    if node.op_type == "Add":
        for inner, addend in (node.inputs, node.inputs[::-1]):
            found = _accumulation(graph, producers, inner, node)
            if found:
                return found[0], found[1] + [node], found[2] + [addend]
        return None
    exact = producers.get(node.inputs[0]) if node.op_type == "Cast" and node.attrs.get("to") == _INT32 else None
    if exact is None or exact.op_type not in ("Conv", "MatMul") or len(exact.inputs) != 2 or \
            exact.attrs.get("activation") or not sole_consumer(graph, node.inputs[0], node):
        return None
    if not all(_integral(graph, producers, i) for i in exact.inputs):
        return None
    return exact, [node], []


def _one_element(graph: Graph, name: str) -> bool:
    t = graph.tensors.get(name)
    return t is not None and t.shape is not None and math.prod(t.shape) == 1 and t.dtype == "float32"


def _fresh(graph: Graph, base: str, like: str) -> str:
    name, k = base, 0
    while name in graph.tensors:
        k += 1
        name = f"{base}_{k}"
    graph.tensors[name] = Tensor(name, None, graph.tensors[like].dtype if like else "float32")
    return name


def _rewrite(graph: Graph, mul: Node, scale: str, found) -> None:
    exact, absorbed, addends = found
    scaled = _fresh(graph, f"{exact.name}/scaled_input", exact.inputs[0])
    added = [Node(f"{exact.name}/scale_input", "Mul", [exact.inputs[0], scale], [scaled])]
    exact.inputs = [scaled, exact.inputs[1]]
    total = exact.outputs[0]
    for k, addend in enumerate(addends):
        as_float = _fresh(graph, f"{addend}/float", "")
        term = _fresh(graph, f"{addend}/scaled", "")
        last = k == len(addends) - 1
        out = mul.outputs[0] if last else _fresh(graph, f"{exact.name}/sum{k}", "")
        added += [Node(f"{addend}/float", "Cast", [addend], [as_float], {"to": _FLOAT}),
                  Node(f"{addend}/scaled", "Mul", [as_float, scale], [term]),
                  Node(f"{exact.name}/add{k}", "Add", [total, term], [out])]
        total = out
    if not addends:
        exact.outputs = [mul.outputs[0]]
    remove(graph, mul, *absorbed)
    graph.nodes.extend(added)


def run(graph: Graph) -> Graph:
    changed = False
    for mul in [n for n in graph.nodes if n.op_type == "Mul" and not n.attrs]:
        producers = graph.producers()
        for value, scale in (mul.inputs, mul.inputs[::-1]):
            cast = producers.get(value)
            if cast is None or cast.op_type != "Cast" or cast.attrs.get("to") != _FLOAT or \
                    not _one_element(graph, scale) or not sole_consumer(graph, value, mul):
                continue
            found = _accumulation(graph, producers, cast.inputs[0], cast)
            if found:
                _rewrite(graph, mul, scale, (found[0], [cast] + found[1], found[2]))
                changed = True
                break
    if changed:
        graph.toposort()
    return graph
