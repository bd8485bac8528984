"""`pymace validate`: does the model on the OpenCL device compute what the source framework computes?

The reference is the source framework's own runtime on the source model the .pmace records (onnxruntime for
ONNX and for the torchvision MobileNetV2 rebuilt as ONNX, LiteRT for TFLite), or the file `--source` names.
A source model that is gone is an error — never a silent fallback: pymace's NumPy reference executor runs
the same IR, so it checks the kernels but not the conversion, and is used only when asked (`--reference
numpy`). Pass/fail is cosine similarity per output (the worst over `samples` inputs) against a threshold:
--threshold, else the deployment YAML's validation_threshold for the runtime it ran on, else one per data type
(MACE's defaults). On failure, every intermediate tensor is made a graph output in a copy of the graph and the
engine is compared node by node with the reference executor, to name the first node that goes wrong;
`--layers` compares them with the source framework instead (tools/layers.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputError, PymaceError
from ..extras import require
from .metrics import classifier_like, compare, top_k_agreement  # noqa: F401 (validate's public metrics)

THRESHOLDS = {"fp32": 0.999, "fp16": 0.995}  # minimum cosine similarity, as MACE's validation defaults
REFERENCES = ("auto", "onnxruntime", "litert", "tflite", "numpy")
RANGE = (-1.0, 1.0)


def validate(model_path, reference: str = "auto", image=None, device: str = "auto", data_type: str = "fp32",
             threshold: float | None = None, seed: int = 0, storage_dir: str | None = None, *,
             inputs: dict | None = None, source: str | None = None, samples: int = 1,
             input_range: tuple[float, float] = RANGE, layers: bool = False) -> dict:
    """Compare the engine's outputs with a reference runtime; a JSON-able dict (docs/benchmark.md, validate).
    Inputs: `inputs` (arrays or .npy paths by name),
    else `image`, else `samples` seeded random draws in `input_range`."""
    from .. import Engine
    from ..ir import pmace_file

    graph = pmace_file.load(str(model_path))
    kind, source, note = choose_reference(graph, reference, source)
    require_runtime(kind, graph)
    batches, input_desc = sample_feeds(graph, image=image, inputs=inputs, samples=samples, seed=seed,
                                       input_range=input_range)
    wants = [run_reference(kind, source, graph, feeds) for feeds in batches]
    engine = Engine(graph, device=device, data_type=data_type, storage_dir=storage_dir)
    threshold = pass_threshold(graph, engine, data_type) if threshold is None else float(threshold)
    labels = graph.metadata.get("labels")
    per_sample = [[dict(name=name, shape=list(got[name].shape), **compare(got[name], ref, labels))
                   for name, ref in match_outputs(graph.outputs, want).items()]
                  for got, want in ((engine.run(feeds), want) for feeds, want in zip(batches, wants))]
    outputs = worst_of(per_sample)
    passed = all(o["cosine"] >= threshold for o in outputs)
    result = {"model": str(model_path), "device": engine.device_name, "data_type": data_type,
              "reference": kind, "reference_source": source, "reference_note": note, "input": input_desc,
              "threshold": {"metric": "cosine", "value": threshold}, "outputs": outputs, "passed": passed,
              "diff": None, "layers": None}
    if layers:
        from .layers import compare_layers

        result["layers"] = compare_layers(graph, kind, source, batches[0], device, data_type, threshold,
                                          storage_dir)
    elif not passed:
        result["diff"] = diff_nodes(graph, batches[0], device, data_type, threshold, storage_dir)
    return result


def pass_threshold(graph, engine, data_type: str) -> float:
    """The YAML's validation_threshold for the runtime the engine ran on (MACE's CPU / GPU keys), else the data
    type's default."""
    per_runtime = graph.metadata.get("validation_threshold") or {}
    if engine.device is not None:
        runtime = "GPU" if engine.device.is_gpu else "CPU"
    else:  # the NumPy reference executor stands in for the runtime the model was deployed to
        runtime = str(graph.metadata.get("runtime") or "gpu").upper()
    return float(per_runtime.get(runtime, THRESHOLDS.get(data_type, THRESHOLDS["fp32"])))


def worst_of(per_sample: list[list[dict]]) -> list[dict]:
    """Per output, the row of the sample with the lowest cosine, with the sample count and the spread."""
    rows = []
    for k, first in enumerate(per_sample[0]):
        column = [sample[k] for sample in per_sample]
        worst = min(column, key=lambda r: r["cosine"] if np.isfinite(r["cosine"]) else -np.inf)
        row = dict(worst, samples=len(column), max_abs_error=max(r["max_abs_error"] for r in column))
        if len(column) > 1:
            row["cosine_mean"] = float(np.mean([r["cosine"] for r in column]))
            if "top1_agree" in first:
                row["top1_agreement"] = sum(r["top1_agree"] for r in column) / len(column)
        rows.append(row)
    return rows


# --- inputs --------------------------------------------------------------------------------------------------
def sample_feeds(graph, image=None, inputs: dict | None = None, samples: int = 1, seed: int = 0,
                 input_range: tuple[float, float] = RANGE, preprocessing: dict | None = None):
    """([feeds per sample], what they are): the given arrays, an image, or seeded random draws."""
    if samples < 1:
        raise ConfigError(f"--samples {samples}: give at least 1")
    if inputs:
        missing = [n for n in graph.inputs if n not in inputs]
        unknown = [n for n in inputs if n not in graph.inputs]
        if missing or unknown:
            raise InputError(f"--input: the model's inputs are {graph.inputs}" + (f"; missing {missing}" if missing
                             else "") + (f"; unknown {unknown}" if unknown else ""))
        if samples > 1:
            raise ConfigError("--samples needs random inputs; with --input files there is one sample")
        from .cli_args import load_arrays

        paths = {n: v for n, v in inputs.items() if isinstance(v, (str, Path))}
        arrays = {**inputs, **load_arrays({n: str(v) for n, v in paths.items()})}
        return [arrays], {"kind": "files", "files": {n: _describe(v) for n, v in inputs.items()}, "samples": 1}
    if image is not None:
        feeds, desc = make_feeds(graph, image, preprocessing=preprocessing)
        return [feeds], desc | {"samples": 1}
    low, high = input_range
    batches = [make_feeds(graph, None, seed + i, (low, high))[0] for i in range(samples)]
    return batches, {"kind": "random", "seed": seed, "distribution": f"uniform({low:g}, {high:g})",
                     "samples": samples}


def _describe(value) -> str:
    return str(value) if isinstance(value, (str, Path)) else f"array {list(np.shape(value))}"


def make_feeds(graph, image=None, seed: int = 0, input_range: tuple[float, float] = RANGE,
               preprocessing: dict | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """An image (a path or an HxWx3 uint8 array) preprocessed as the model records, or seeded random data."""
    if image is None:
        from ..ir.symbolic import example_shapes

        rng = np.random.default_rng(seed)
        shapes = example_shapes(graph, complete=True)  # dynamic dims: the example shape the converter checked
        low, high = input_range
        feeds = {n: rng.uniform(low, high, shapes[n]).astype(graph.tensors[n].dtype) for n in graph.inputs}
        return feeds, {"kind": "random", "seed": seed, "distribution": f"uniform({low:g}, {high:g})"}
    from .images import load_image, preprocess

    if len(graph.inputs) != 1:
        raise ConfigError(f"--image needs a model with one input; this one has {graph.inputs}")
    x, how = preprocess(graph, load_image(image), preprocessing)
    desc = {"kind": "image", "image": str(image) if isinstance(image, (str, Path)) else "(array)",
            "preprocessing": how}
    return {graph.inputs[0]: x}, desc


# --- references ----------------------------------------------------------------------------------------------
NATIVE = {"onnx": "onnxruntime", "torch-mobilenet_v2": "onnxruntime", "tflite": "litert"}


def choose_reference(graph, reference: str, source: str | None = None) -> tuple[str, str | None, str | None]:
    """(runtime, source file, note): the source framework's runtime on its model, or numpy when asked."""
    if reference not in REFERENCES:
        raise ConfigError(f"unknown reference {reference!r}: use one of {', '.join(REFERENCES)}")
    meta = graph.metadata
    framework = meta.get("framework")
    native = NATIVE.get(framework)
    want = "litert" if reference == "tflite" else reference
    if want == "numpy":
        return "numpy", None, "pymace's NumPy reference executor: checks the kernels, not the conversion"
    if native is None:
        why = f"the source framework {framework!r} has no reference runtime" if framework else \
            "the model records no source framework"
        raise PymaceError(f"{why}; compare with pymace's NumPy executor instead: --reference numpy")
    if want != "auto" and want != native:
        raise ConfigError(f"reference {want} cannot run this model (its source framework is {framework!r})")
    path = source or meta.get("source_file")
    if not path or not Path(path).is_file():
        flag = "the --source" if source else "the source model the .pmace records,"
        raise PymaceError(f"{flag} {path!r} is not there: point at it with --source MODEL, or compare with "
                          "pymace's NumPy executor (it does not check the conversion): --reference numpy")
    return native, str(path), None


def require_runtime(kind: str, graph) -> None:
    """The reference runtime (and, for the torchvision model, onnx to rebuild it) is installed."""
    if kind == "onnxruntime":
        torch_model = graph.metadata.get("framework") == "torch-mobilenet_v2"
        require("validate", "reference", "onnxruntime", *(["onnx"] if torch_model else []))
    elif kind == "litert":
        require("validate", "reference", "ai_edge_litert")


def onnx_model_bytes(source: str, graph) -> bytes | str:
    """What onnxruntime loads: the source file, or the torchvision model rebuilt as ONNX."""
    if graph.metadata.get("framework") == "torch-mobilenet_v2":
        from ..frontends import torch_mobilenet

        return torch_mobilenet.to_onnx(source).SerializeToString()
    return source


def run_reference(kind: str, source: str | None, graph, feeds: dict) -> dict[str, np.ndarray]:
    return make_runner(kind, source, graph)(feeds)


def make_runner(kind: str, source: str | None, graph):
    """feeds → {output name: array} on the reference runtime, its session made once."""
    if kind == "numpy":
        from ..reference import executor

        return lambda feeds: executor.run(graph, feeds)
    if kind == "litert":
        return lambda feeds: _litert(source, feeds)
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_model_bytes(source, graph), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    wanted = [i.name for i in session.get_inputs()]
    return lambda feeds: dict(zip(names, session.run(names, {n: feeds[n] for n in wanted if n in feeds})))


def _litert(source: str, feeds: dict) -> dict[str, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=source)
    it.allocate_tensors()
    details = it.get_input_details()
    values = list(feeds.values())
    for i, d in enumerate(details):  # by name where the names agree, else by position
        it.set_tensor(d["index"], np.asarray(feeds.get(d["name"], values[i]), d["dtype"]))
    it.invoke()
    return {d["name"]: it.get_tensor(d["index"]).copy() for d in it.get_output_details()}


def match_outputs(names: list[str], want: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reference outputs for the engine's outputs: by name, else by position."""
    if all(n in want for n in names):
        return {n: want[n] for n in names}
    values = list(want.values())
    if len(values) < len(names):
        raise PymaceError(f"the reference gives {len(values)} outputs, the model has {len(names)}: {names}")
    return dict(zip(names, values))


# --- node by node --------------------------------------------------------------------------------------------
def probe_graph(graph):
    """A copy of the graph whose outputs are every float tensor a node produces (and the real outputs)."""
    from ..ir.graph import Graph

    float_outputs = [o for n in graph.nodes for o in n.outputs if graph.tensors[o].dtype.startswith("float")]
    return Graph(graph.name, list(graph.nodes), dict(graph.tensors), list(graph.inputs),
                 list(dict.fromkeys(float_outputs + list(graph.outputs))), dict(graph.metadata))


def diff_nodes(graph, feeds, device: str, data_type: str, threshold: float, storage_dir=None) -> dict:
    """Every node's output on the engine vs the reference executor, in graph order; names the first node whose
    output falls below `threshold` (cosine). The engine runs the very kernels it ran before, only keeping more
    buffers alive."""
    from .. import Engine
    from ..reference import executor

    got = Engine(probe_graph(graph), device=device, data_type=data_type, storage_dir=storage_dir).run(feeds)
    want = executor.run(graph, feeds, keep=True)
    return node_rows(graph, got, want, threshold) | {"reference": "numpy"}


def node_rows(graph, got: dict, want: dict, threshold: float) -> dict:
    """Rows for each node output present in both `got` and `want` (same size), and the first that diverges."""
    rows, first = [], None
    for node in graph.nodes:
        for name in node.outputs:
            if name not in got or name not in want or np.size(got[name]) != np.size(want[name]):
                continue
            m = compare(got[name], want[name])
            row = {"node": node.name, "op_type": node.op_type, "tensor": name, "cosine": m["cosine"],
                   "max_abs_error": m["max_abs_error"], "sqnr_db": m["sqnr_db"],
                   "diverges": not m["cosine"] >= threshold}
            rows.append(row)
            if row["diverges"] and first is None:
                first = row
    return {"first_divergent": first, "nodes": rows}


def render_text(result: dict):
    """rich renderables for `pymace validate` (text.py)."""
    from .validate_text import render

    return render(result)
