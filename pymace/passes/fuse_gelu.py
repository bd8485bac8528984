"""Recognise GELU written out with Erf and replace it with one Gelu node (approximate="none"):
  x · 0.5 · (1 + Erf(x / √2))      the three factors multiplied in any order and grouping, x / √2 also as
                                   x · (1/√2), 1 + e as e + 1   (PaddleOCR's PP-OCRv5/v6 exports, torch's GELU)
Every intermediate must be read only by the pattern, so nothing else loses a tensor."""
from __future__ import annotations

import math

from ..ir.graph import Graph, Node
from .rewrite import remove, scalar, sole_consumer


def _close(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) <= 1e-5 * max(1.0, abs(b))


def _inner(graph: Graph, producers: dict, name: str, by: Node, op_type: str) -> Node | None:
    node = producers.get(name)
    ok = node is not None and node.op_type == op_type and not node.attrs and sole_consumer(graph, name, by)
    return node if ok else None


def _factors(graph: Graph, producers: dict, name: str, by: Node, absorbed: list) -> list[str]:
    """The leaves of the product tree of Mul nodes under `name` (inner Muls read only here go to `absorbed`)."""
    node = _inner(graph, producers, name, by, "Mul")
    if node is None:
        return [name]
    absorbed.append(node)
    return [f for i in node.inputs for f in _factors(graph, producers, i, node, absorbed)]


def _erf_of_scaled(graph: Graph, producers: dict, name: str, by: Node) -> tuple[str, list[Node]] | None:
    """(x, nodes) when `name` = 1 + Erf(x / √2)."""
    add = _inner(graph, producers, name, by, "Add")
    if add is None:
        return None
    for e, one in (add.inputs, add.inputs[::-1]):
        erf = _inner(graph, producers, e, add, "Erf") if _close(scalar(graph, one), 1.0) else None
        scaled = erf and producers.get(erf.inputs[0])
        if not scaled or scaled.op_type not in ("Div", "Mul") or scaled.attrs or \
                not sole_consumer(graph, erf.inputs[0], erf):
            continue
        want = math.sqrt(2) if scaled.op_type == "Div" else 1 / math.sqrt(2)
        if _close(scalar(graph, scaled.inputs[1]), want):
            return scaled.inputs[0], [add, erf, scaled]
    return None


def _gelu_input(graph: Graph, producers: dict, mul: Node) -> tuple[str, list[Node]] | None:
    """(x, nodes to remove besides `mul`) when `mul`'s output is x · 0.5 · (1 + Erf(x / √2))."""
    absorbed: list[Node] = []
    leaves = [f for i in mul.inputs for f in _factors(graph, producers, i, mul, absorbed)]
    if len(leaves) != 3:
        return None
    half = [f for f in leaves if _close(scalar(graph, f), 0.5)]
    for gate in leaves:
        readers = [n for n in absorbed + [mul] if gate in n.inputs]
        found = len(readers) == 1 and _erf_of_scaled(graph, producers, gate, readers[0])
        if found and half and sorted(leaves) == sorted([found[0], half[0], gate]):
            return found[0], absorbed + found[1]
    return None


def run(graph: Graph) -> Graph:
    done: set[int] = set()
    for node in [n for n in graph.nodes if n.op_type == "Mul" and not n.attrs]:
        if id(node) in done:
            continue
        found = _gelu_input(graph, graph.producers(), node)
        if found is None:
            continue
        x, absorbed = found
        done.update(id(n) for n in absorbed)
        remove(graph, *absorbed)
        node.op_type, node.inputs, node.attrs = "Gelu", [x], {"approximate": "none"}
    return graph
