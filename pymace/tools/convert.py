"""`pymace convert`: a source model (.onnx, .tflite, or torchvision MobileNetV2 .pth) → passes → .pmace file."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from .. import ops, passes
from ..errors import ConvertError
from ..extras import require
from ..ir import pmace_file
from ..ir.graph import Graph
from ..ir.shapes import infer_shapes

log = logging.getLogger(__name__)

SUFFIXES = (".onnx", ".tflite", ".pth")


def converter_fingerprint() -> str:
    """A hash of the code that shapes a converted graph (frontends, passes, this module): the zoo converts its
    cached models again when it changes, so an upgraded pymace never runs a graph an older converter made."""
    import hashlib

    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for f in sorted([*root.glob("frontends/*.py"), *root.glob("passes/*.py"), Path(__file__).resolve()]):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:16]


def load_source(source: str | os.PathLike, input_shapes: dict | None = None) -> Graph:
    """Import a source model by its suffix (frontends import lazily: each pulls in its own framework)."""
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        require(f"converting {path.name}", "convert", "onnx")
        from ..frontends import onnx as onnx_frontend

        return onnx_frontend.load(path, input_shapes)
    if suffix == ".tflite":
        require(f"converting {path.name}", "convert", "tflite", "flatbuffers")
        from ..frontends import tflite

        return tflite.load(str(path), input_shapes=input_shapes)
    if suffix == ".pth":  # built as IR directly: converting it needs no onnx
        from ..frontends import torch_mobilenet

        fixed = {"input": list(torch_mobilenet.INPUT_SHAPE)}
        if input_shapes and {k: list(v) for k, v in input_shapes.items()} != fixed:
            raise ConvertError(f"{path.name}: torchvision's MobileNetV2 takes {fixed}; input shapes "
                               f"{input_shapes} cannot be given")
        return torch_mobilenet.to_graph(path)
    raise ConvertError(f"{path}: unknown model type {suffix or '(no suffix)'!r}; pymace converts "
                       f"{', '.join(SUFFIXES)}")


def convert(source: str | os.PathLike, out: str | os.PathLike | None = None, *,
            input_shapes: dict[str, list[int]] | None = None, metadata: dict | None = None,
            outputs: list[str] | None = None) -> Graph:
    """Import, run the pass pipeline, infer shapes, verify, and save to `out` (when given). `outputs` cuts the
    graph at the named tensors (the deployment YAML's output_tensors)."""
    graph = load_source(source, input_shapes)
    if outputs:
        missing = [o for o in outputs if o not in graph.tensors]
        if missing:
            raise ConvertError(f"output tensors {missing} are not in the model (its outputs are {graph.outputs})")
        graph.outputs = list(outputs)
        graph.prune()
    ops.check_supported(graph.nodes)  # every IR op a frontend emitted that pymace lacks, with its nodes, at once
    nodes_in = len(graph.nodes)
    graph = passes.run(graph)
    infer_shapes(graph)
    graph.verify()
    if metadata:
        graph.metadata.update(metadata)
    graph.metadata["converter"] = converter_fingerprint()
    if graph.metadata.get("source_file") and not graph.metadata.get("source_sha256"):  # frontends may omit it
        from .zoo import sha256_file

        graph.metadata["source_sha256"] = sha256_file(graph.metadata["source_file"])
    log.info("%s: %d nodes imported, %d after passes", Path(source).name, nodes_in, len(graph.nodes))
    if out is not None:
        pmace_file.save(graph, str(out))
    return graph
