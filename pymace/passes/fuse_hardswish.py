"""Recognise hard-swish written out in primitive ops and replace it with one HardSwish node:
  x · Clip(x + 3, 0, 6) / 6        (PP-OCR: Add → Clip → Mul → Div; also · (1/6))
  x · (Clip(x + 3, 0, 6) / 6)
  x · HardSigmoid(x, alpha=1/6, beta=0.5)
Every intermediate must be read only by the pattern, so nothing else loses a tensor."""
from __future__ import annotations

from ..ir.graph import Graph, Node
from .rewrite import remove, scalar, sole_consumer


def _close(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) <= 1e-6 * max(1.0, abs(b))


class _Match:
    def __init__(self, graph: Graph):
        self.graph, self.producers = graph, graph.producers()

    def inner(self, name: str, by: Node, op_types: tuple[str, ...]) -> Node | None:
        """The producer of `name` if it is one of `op_types` and `by` is its only reader."""
        node = self.producers.get(name)
        ok = node is not None and node.op_type in op_types and sole_consumer(self.graph, name, by)
        return node if ok else None

    def relu6_plus3(self, name: str, by: Node) -> tuple[str, list[Node]] | None:
        """(x, nodes) when `name` = Clip(x + 3, 0, 6)."""
        clip = self.inner(name, by, ("Clip",))
        if clip is None or not (_close(clip.attrs.get("min"), 0) and _close(clip.attrs.get("max"), 6)):
            return None
        add = self.inner(clip.inputs[0], clip, ("Add",))
        if add is None:
            return None
        for x, three in (add.inputs, add.inputs[::-1]):
            if _close(scalar(self.graph, three), 3) and scalar(self.graph, x) is None:
                return x, [clip, add]
        return None

    def gate(self, name: str, by: Node) -> tuple[str, list[Node]] | None:
        """(x, nodes) when `name` = hard_sigmoid(x) = Clip(x + 3, 0, 6) / 6 or HardSigmoid(x, 1/6, 0.5)."""
        node = self.inner(name, by, ("HardSigmoid", "Div", "Mul"))
        if node is None:
            return None
        if node.op_type == "HardSigmoid":
            ok = _close(node.attrs.get("alpha"), 1 / 6) and _close(node.attrs.get("beta"), 0.5)
            return (node.inputs[0], [node]) if ok else None
        if not _close(scalar(self.graph, node.inputs[1]), 6 if node.op_type == "Div" else 1 / 6):
            return None
        found = self.relu6_plus3(node.inputs[0], node)
        return (found[0], found[1] + [node]) if found else None

    def product(self, mul: Node, gate) -> tuple[str, list[Node]] | None:
        """(x, nodes) when `mul` = x · gate(x), the operands in either order."""
        if mul.op_type != "Mul" or "activation" in mul.attrs:
            return None
        for x, g in (mul.inputs, mul.inputs[::-1]):
            found = gate(g, mul)
            if found and found[0] == x:
                return x, found[1]
        return None


def _hardswish_input(m: _Match, node: Node) -> tuple[str, list[Node]] | None:
    """(x, nodes to remove besides `node`) when `node`'s output is hard_swish(x)."""
    found = m.product(node, m.gate)
    if found:
        return found
    if node.op_type in ("Div", "Mul") and _close(scalar(m.graph, node.inputs[1]),
                                                 6 if node.op_type == "Div" else 1 / 6):
        mul = m.inner(node.inputs[0], node, ("Mul",))
        found = mul and m.product(mul, m.relu6_plus3)
        if found:
            return found[0], found[1] + [mul]
    return None


def run(graph: Graph) -> Graph:
    absorbed_ids: set[int] = set()
    for node in [n for n in graph.nodes if n.op_type in ("Mul", "Div")]:
        if id(node) in absorbed_ids:  # already part of an earlier match
            continue
        found = _hardswish_input(_Match(graph), node)
        if found is None:
            continue
        x, absorbed = found
        absorbed_ids.update(id(n) for n in absorbed)
        remove(graph, *absorbed)
        node.op_type, node.inputs, node.attrs = "HardSwish", [x], {}
    return graph
