"""Fold a constant zero Pad on the spatial axes into the Conv or AveragePool that reads it.

MaxPool is left alone: its own padding is −inf, so a zero pad in front of it is not the same computation.
AveragePool absorbs the pad only when padded zeros count (count_include_pad=1, or no pads of its own, which then
become counted pads) and ceil_mode is off (ceil-mode windows past the end would change their divisor)."""
from __future__ import annotations

from ..ir.graph import Graph
from .rewrite import bypass, sole_consumer


def _spatial_pads(pad) -> list[int] | None:
    """[begin…, end…] of the spatial axes of a foldable Pad, else None."""
    pads = list(pad.attrs.get("pads", []))
    rank = len(pads) // 2
    if pad.attrs.get("mode", "constant") != "constant" or pad.attrs.get("value", 0.0) != 0.0 or rank < 3:
        return None
    if any(p < 0 for p in pads) or any(pads[a] or pads[a + rank] for a in (0, 1)):
        return None
    return pads[2:rank] + pads[rank + 2:]


def _absorbs(node) -> bool:
    if node.attrs.get("auto_pad", "NOTSET") != "NOTSET":  # its padding follows from its input's size
        return False
    if node.op_type == "Conv":
        return True
    if node.op_type == "AveragePool" and not node.attrs.get("ceil_mode", 0):
        return node.attrs.get("count_include_pad", 0) == 1 or not any(node.attrs.get("pads", []))
    return False


def run(graph: Graph) -> Graph:
    for pad in [n for n in graph.nodes if n.op_type == "Pad"]:
        extra = _spatial_pads(pad)
        readers = [n for n in graph.nodes if pad.outputs[0] in n.inputs]
        if extra is None or len(readers) != 1 or not _absorbs(readers[0]) or readers[0].inputs[0] != pad.outputs[0]:
            continue
        node = readers[0]
        if not sole_consumer(graph, pad.outputs[0], node):
            continue
        own = list(node.attrs.get("pads", [0] * len(extra)))
        node.attrs["pads"] = [a + b for a, b in zip(own, extra)]
        if node.op_type == "AveragePool":
            node.attrs["count_include_pad"] = 1
        bypass(graph, pad, pad.inputs[0])
    return graph
