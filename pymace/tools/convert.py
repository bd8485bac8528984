"""`pymace convert`: a source model (.onnx, .tflite, or torchvision MobileNetV2 .pth) → passes → .pmace file.

A model with dynamic dims (batch `N`, `p2o.DynamicDimension.*`, `unk__*`, TFLite's -1) that `input_shapes` does not
fix converts to a symbolic graph (ir/symbolic.py): it is converted at two probe bindings of its symbols, the two
graphs must be the same (else the model's conversion depends on its input size, and the node is named), and the
symbolic graph is then verified at both."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from .. import ops, passes
from ..errors import ConvertError, PymaceError
from ..extras import require
from ..ir import pmace_file, symbolic
from ..ir.graph import Graph
from ..ir.shapes import infer_shapes
from ..ir.verify import verify

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


def load_source(source: str | os.PathLike, input_shapes: dict | None = None, probe: int = 0) -> Graph:
    """Import a source model by its suffix (frontends import lazily: each pulls in its own framework); `probe`:
    which probe binding symbolic dims take (ir/symbolic.probe_binding)."""
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        require(f"converting {path.name}", "convert", "onnx")
        from ..frontends import onnx as onnx_frontend

        return onnx_frontend.load(path, input_shapes, probe)
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
    graph, nodes_in = _converted(source, input_shapes, outputs, 0)
    declared = graph.metadata.pop("input_dims", None)
    if declared:
        graph = _symbolic(graph, declared, lambda: _converted(source, input_shapes, outputs, 1)[0])
    else:
        verify(graph)  # what load() will check: a model that disagrees with its ops is never written
    if metadata:
        graph.metadata.update(metadata)
    graph.metadata["converter"] = converter_fingerprint()
    if graph.metadata.get("source_file") and not graph.metadata.get("source_sha256"):  # frontends may omit it
        from .zoo import sha256_file

        graph.metadata["source_sha256"] = sha256_file(graph.metadata["source_file"])
    log.info("%s: %d nodes imported, %d after passes%s", Path(source).name, nodes_in, len(graph.nodes),
             f"; symbolic inputs {declared}" if declared else "")
    if out is not None:
        pmace_file.save(graph, str(out))
    return graph


def _converted(source, input_shapes: dict | None, outputs: list[str] | None, probe: int) -> tuple[Graph, int]:
    """(the graph after the pass pipeline, the number of nodes imported). A symbolic import skips the first
    constant folding: its Shape nodes must stay (the importer folded everything else already)."""
    graph = load_source(source, input_shapes, probe)
    if outputs:
        missing = [o for o in outputs if o not in graph.tensors]
        if missing:
            raise ConvertError(f"output tensors {missing} are not in the model (its outputs are {graph.outputs})")
        graph.outputs = list(outputs)
        graph.prune()
    ops.check_supported(graph.nodes)  # every IR op a frontend emitted that pymace lacks, with its nodes, at once
    nodes_in = len(graph.nodes)
    symbolic_import = bool(graph.metadata.get("input_dims"))
    pipeline = [p for p in passes.PIPELINE if not (symbolic_import and p is passes.fold_constants)]
    graph = passes.run(graph, pipeline)
    infer_shapes(graph)
    return graph, nodes_in


def _symbolic(graph: Graph, declared: dict, convert_other) -> Graph:
    """`graph`, converted at probe 0, made symbolic: `convert_other()` converts at probe 1 (None where the
    frontend cannot, TFLite: its file holds every tensor's shape at one binding), the two must agree, and the
    symbolic graph must verify at both probes."""
    declared = {n: tuple(d) for n, d in declared.items()}
    source_outputs = graph.metadata.pop("output_dims", None) or {}
    bindings = [symbolic.probe_binding(declared, k) for k in (0, 1)]
    shapes = [{n: symbolic.concrete(graph.tensors[n].shape if n not in declared else declared[n], b)
               for n in graph.inputs} for b in bindings]
    where = f"converting with symbolic dims {declared} at input shapes {shapes[1]}"
    other = None
    if convert_other is not None:
        try:
            other = convert_other()
        except PymaceError as e:
            raise ConvertError(f"{where}: {e}; fix the dims with --input-shape") from None
        found = symbolic.difference(graph, other)
        if found is not None:
            raise ConvertError(f"the converted graph depends on the input's size at {found} ({where} and "
                               f"{shapes[0]}): pymace cannot keep its dims symbolic; fix them with --input-shape")
    symbolic.generalize(graph, declared, {}, shapes[0])
    try:
        at = [symbolic.specialize(graph, s) for s in shapes]
    except PymaceError as e:
        raise ConvertError(f"{where}: {e}; fix the dims with --input-shape") from None
    for name, dims in symbolic.output_dims(graph, at, bindings, source_outputs).items():
        graph.tensors[name].shape = dims
    return graph


CONVERTED_DIR = "converted"  # in the storage dir: models Engine("model.onnx") converted


def converted_model(source: str | os.PathLike, storage_dir: str, input_shapes: dict | None = None) -> Path:
    """The .pmace of a source model, converted now unless `storage_dir` holds it already: named by the source
    file's sha256, pymace's version, the converter's fingerprint and the `input_shapes` asked for, so that a
    changed file, converter or shape converts again. Dims `input_shapes` does not fix (all, without it) stay
    symbolic. ConvertError / MissingExtraError (the [convert] extra) / ModelError as `convert` gives them."""
    import hashlib
    import json

    from .. import __version__
    from .zoo import sha256_file

    path = Path(source)
    if path.suffix.lower() not in SUFFIXES:
        raise ConvertError(f"{path}: unknown model type {path.suffix or '(no suffix)'!r}; pymace converts "
                           f"{', '.join(SUFFIXES)}")
    try:
        digest = sha256_file(path)
    except FileNotFoundError:
        raise ConvertError(f"{path}: no such file") from None
    except OSError as e:
        raise ConvertError(f"{path}: cannot read ({e.strerror or e})") from None
    shapes = "" if not input_shapes else "-" + hashlib.sha256(json.dumps(
        {k: [d if isinstance(d, str) else int(d) for d in v] for k, v in input_shapes.items()},
        sort_keys=True).encode()).hexdigest()[:8]
    target = Path(storage_dir) / CONVERTED_DIR / (f"{path.stem[:64]}-{digest[:16]}{shapes}-{__version__}-"
                                                  f"{converter_fingerprint()}.pmace")
    if not target.exists():
        log.info("converting %s → %s", path, target)
        convert(path, target, input_shapes=input_shapes)
    return target
