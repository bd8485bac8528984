"""pymace's framework-neutral graph: tensors, nodes, and the checks that keep them consistent.

Op types and attribute names follow ONNX (NCHW layout) so that one op catalogue serves every frontend; pymace
adds a few attributes of its own (e.g. `activation` on fused producers) documented in docs/ir.md."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...] | None = None  # None until shape inference ran
    dtype: str = "float32"
    data: np.ndarray | None = None  # constant data (weights); None for activations

    @property
    def is_const(self) -> bool:
        return self.data is not None


@dataclass
class Node:
    name: str
    op_type: str
    inputs: list[str]  # "" marks an omitted optional input
    outputs: list[str]
    attrs: dict = field(default_factory=dict)


@dataclass
class Graph:
    name: str
    nodes: list[Node]
    tensors: dict[str, Tensor]
    inputs: list[str]
    outputs: list[str]
    metadata: dict = field(default_factory=dict)  # source file, sha256, framework, labels, preprocessing …

    def tensor(self, name: str) -> Tensor:
        return self.tensors[name]

    def consts(self) -> dict[str, np.ndarray]:
        return {n: t.data for n, t in self.tensors.items() if t.data is not None}

    def producers(self) -> dict[str, Node]:
        return {o: n for n in self.nodes for o in n.outputs}

    def toposort(self) -> None:
        """Order nodes so every input is produced before use (stable for already-sorted graphs)."""
        ready = set(self.inputs) | {n for n, t in self.tensors.items() if t.is_const}
        self.nodes = topological_order(self.nodes, ready, f"graph {self.name!r}")

    def verify(self) -> None:
        """Raise ModelError unless every tensor is defined once and every node's inputs exist."""
        produced: set[str] = set()
        for n in self.nodes:
            for o in n.outputs:
                if o in produced or o in self.inputs or (o in self.tensors and self.tensors[o].is_const):
                    raise ModelError(f"tensor {o!r} is produced twice (node {n.name!r})")
                produced.add(o)
        known = produced | set(self.inputs) | {n for n, t in self.tensors.items() if t.is_const}
        for n in self.nodes:
            for i in n.inputs:
                if i and i not in known:
                    raise ModelError(f"node {n.name!r} ({n.op_type}) reads undefined tensor {i!r}")
        for o in self.outputs:
            if o not in known:
                raise ModelError(f"graph output {o!r} is never produced")
        for name in list(produced) + self.inputs:
            if name not in self.tensors:
                raise ModelError(f"tensor {name!r} has no Tensor record")
        self.toposort()

    def prune(self) -> None:
        """Drop nodes and constants that no graph output depends on."""
        producers, needed, stack = self.producers(), set(), list(self.outputs)
        while stack:
            t = stack.pop()
            if t in needed or not t:
                continue
            needed.add(t)
            if t in producers:
                stack.extend(producers[t].inputs)
        self.nodes = [n for n in self.nodes if any(o in needed for o in n.outputs)]
        self.tensors = {k: v for k, v in self.tensors.items() if k in needed or k in self.inputs}


def topological_order(nodes, ready, what: str, io=lambda n: (n.inputs, n.outputs)) -> list:
    """`nodes` ordered so that each reads only tensors in `ready` ("" included) or produced before it, stable for
    an already-sorted list; `io(node)` gives (inputs, outputs), so ONNX's NodeProtos sort too. ModelError (naming
    `what`) on a cycle or a tensor nothing produces."""
    ready = set(ready) | {""}
    pending, ordered = list(nodes), []
    while pending:
        rest = []
        for n in pending:
            inputs, outputs = io(n)
            if all(i in ready for i in inputs):
                ordered.append(n)
                ready.update(outputs)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            missing = sorted({i for n in rest for i in io(n)[0] if i not in ready}, key=str)
            raise ModelError(f"{what} has a cycle or reads undefined tensors: {missing[:8]}")
        pending = rest
    return ordered
