"""x · s (a squeeze-excitation scale, s [N, C, 1, 1]) before a one-group Conv → the Conv's prologue: the first of
passes/fuse_prologue.py's patterns alone. It is on in GPU plans by default, while the BatchNormalization and
max-pool prologues (fuse_prologue, "prologue") are not: those repeat their work in every tile of the conv, a
channel scale costs the conv one multiply a load (benchmarks/NOTES.md, eighth session)."""
from __future__ import annotations

from ..ir.graph import Graph
from . import fuse_prologue


def run(graph: Graph) -> Graph:
    return fuse_prologue.run(graph, kinds=("scale",))
