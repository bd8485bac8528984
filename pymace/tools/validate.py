"""`pymace validate`: does the model on the OpenCL device compute what the source framework computes?

The reference is the source framework's own runtime on the source model the .pmace records (onnxruntime for
ONNX and for the torchvision MobileNetV2 rebuilt as ONNX, LiteRT for TFLite), or pymace's NumPy reference
executor when that file is gone. Pass/fail is cosine similarity per output against a threshold: --threshold,
else the deployment YAML's validation_threshold for the runtime it ran on, else one per data type (MACE's
defaults). On failure, every intermediate tensor is made a graph output in a copy of the graph and the
engine is compared node by node with the reference executor, to name the first node that goes wrong."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ConfigError, PymaceError

THRESHOLDS = {"fp32": 0.999, "fp16": 0.995}  # minimum cosine similarity, as MACE's validation defaults
REFERENCES = ("auto", "onnxruntime", "litert", "tflite", "numpy")


def validate(model_path, reference: str = "auto", image=None, device: str = "auto", data_type: str = "fp32",
             threshold: float | None = None, seed: int = 0, storage_dir: str | None = None) -> dict:
    """Compare the engine's outputs with a reference runtime; a JSON-able dict (docs/benchmark.md, validate)."""
    from .. import Engine
    from ..ir import pmace_file

    if reference not in REFERENCES:
        raise ConfigError(f"unknown reference {reference!r}: use one of {', '.join(REFERENCES)}")
    graph = pmace_file.load(str(model_path))
    feeds, input_desc = make_feeds(graph, image, seed)
    kind, source, note = choose_reference(graph, reference)
    want = run_reference(kind, source, graph, feeds)
    engine = Engine(graph, device=device, data_type=data_type, storage_dir=storage_dir)
    threshold = pass_threshold(graph, engine, data_type) if threshold is None else float(threshold)
    got = engine.run(feeds)
    labels = graph.metadata.get("labels")
    outputs = [dict(name=name, shape=list(got[name].shape), **compare(got[name], ref, labels))
               for name, ref in match_outputs(graph.outputs, want).items()]
    passed = all(o["cosine"] >= threshold for o in outputs)
    result = {"model": str(model_path), "device": engine.device_name, "data_type": data_type,
              "reference": kind, "reference_source": source, "reference_note": note, "input": input_desc,
              "threshold": {"metric": "cosine", "value": threshold}, "outputs": outputs, "passed": passed,
              "diff": None}
    if not passed:
        result["diff"] = diff_nodes(graph, feeds, device, data_type, threshold, storage_dir)
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


# --- inputs --------------------------------------------------------------------------------------------------
def make_feeds(graph, image=None, seed: int = 0) -> tuple[dict[str, np.ndarray], dict]:
    """An image (a path or an HxWx3 uint8 array) preprocessed as the model records, or seeded random data."""
    if image is None:
        rng = np.random.default_rng(seed)
        feeds = {n: rng.uniform(-1, 1, graph.tensors[n].shape).astype(graph.tensors[n].dtype) for n in graph.inputs}
        return feeds, {"kind": "random", "seed": seed, "distribution": "uniform(-1, 1)"}
    if len(graph.inputs) != 1:
        raise ConfigError(f"--image needs a model with one input; this one has {graph.inputs}")
    pixels = load_image(image)
    name = graph.inputs[0]
    x, how = preprocess(graph, pixels)
    desc = {"kind": "image", "image": str(image) if isinstance(image, (str, os.PathLike)) else "(array)",
            "preprocessing": how}
    return {name: x}, desc


def load_image(image) -> np.ndarray:
    """HxWx3 uint8 RGB from a path or an array (grey gains channels, alpha is dropped)."""
    if isinstance(image, (str, os.PathLike)):
        import skimage.io

        try:
            image = skimage.io.imread(str(image))
        except (OSError, ValueError) as error:
            raise PymaceError(f"cannot read image {image}: {error}") from None
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    img = img[..., :3]
    if img.dtype != np.uint8:
        img = np.clip(img * (255 if img.max() <= 1 else 1), 0, 255).astype(np.uint8)
    return img


def preprocess(graph, img: np.ndarray) -> tuple[np.ndarray, str]:
    """The model's recorded preprocessing; else a plain resize to the input shape with values in [0, 1]."""
    shape = tuple(graph.tensors[graph.inputs[0]].shape)
    meta = graph.metadata
    if meta.get("framework") == "torch-mobilenet_v2":  # torchvision's exact (PIL-style antialiased) resize
        from ..frontends import torch_mobilenet

        return torch_mobilenet.preprocess(img), "torchvision ImageNet (metadata)"
    if len(shape) != 4 or 3 not in (shape[1], shape[3]):
        raise ConfigError(f"input {graph.inputs[0]!r} of shape {list(shape)} does not take an RGB image")
    nchw = shape[1] == 3
    h, w = (shape[2], shape[3]) if nchw else (shape[1], shape[2])
    import skimage.transform

    x = skimage.transform.resize(img, (h, w), order=1, anti_aliasing=True, preserve_range=True) / 255.0
    spec = meta.get("preprocessing") or {}
    if spec:
        x = (x * 255.0 * spec.get("scale", 1 / 255) - np.array(spec.get("mean", 0.0))) / np.array(spec.get("std", 1.0))
    x = x.transpose(2, 0, 1) if nchw else x
    how = "metadata: " + ", ".join(f"{k}={v}" for k, v in spec.items()) if spec else "resize, [0, 1]"
    return x[None].astype(np.float32), how


# --- references ----------------------------------------------------------------------------------------------
def choose_reference(graph, reference: str) -> tuple[str, str | None, str | None]:
    """(runtime, source file, note): the source framework's runtime when its model is at hand, else numpy."""
    meta = graph.metadata
    framework, source = meta.get("framework"), meta.get("source_file")
    native = {"onnx": "onnxruntime", "torch-mobilenet_v2": "onnxruntime", "tflite": "litert"}.get(framework)
    want = "litert" if reference == "tflite" else reference
    if want == "numpy":
        return "numpy", None, None
    if want == "auto" and native is None:
        why = f"no runtime for the source framework {framework!r}" if framework else "no source model recorded"
        return "numpy", None, f"{why}: the NumPy reference executor"
    if want != "auto" and want != native:
        raise ConfigError(f"reference {want} cannot run this model (its source framework is {framework!r})")
    if not source or not Path(source).exists():
        if want != "auto":
            raise PymaceError(f"the source model {source!r} the .pmace records is gone; use --reference numpy")
        return "numpy", None, f"source model {source!r} not found: fell back to the NumPy reference executor"
    return native, source, None


def run_reference(kind: str, source: str | None, graph, feeds: dict) -> dict[str, np.ndarray]:
    if kind == "numpy":
        from ..reference import executor

        return executor.run(graph, feeds)
    if kind == "litert":
        return _litert(source, feeds)
    import onnxruntime as ort

    if graph.metadata.get("framework") == "torch-mobilenet_v2":
        from ..frontends import torch_mobilenet

        model = torch_mobilenet.to_onnx(source).SerializeToString()
    else:
        model = source
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    ins = {i.name: feeds[i.name] for i in session.get_inputs() if i.name in feeds}
    return dict(zip(names, session.run(names, ins)))


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


# --- metrics -------------------------------------------------------------------------------------------------
def compare(got: np.ndarray, want: np.ndarray, labels: list[str] | None = None) -> dict:
    """max |error|, cosine similarity, SQNR (dB; None when exact), and top-1/top-5 for classifier-like outputs."""
    g = np.asarray(got, np.float64).ravel()
    w = np.asarray(want, np.float64).ravel()
    if g.size != w.size:
        raise PymaceError(f"output has {g.size} values, the reference {w.size}")
    err = g - w
    norms = np.linalg.norm(g) * np.linalg.norm(w)
    cosine = float(g @ w / norms) if norms > 0 else float(np.array_equal(g, w))
    noise, signal = float(err @ err), float(w @ w)
    finite = bool(np.all(np.isfinite(g)))
    row = {"max_abs_error": float(np.max(np.abs(err))) if err.size else 0.0,
           "mean_abs_error": float(np.mean(np.abs(err))) if err.size else 0.0,
           "cosine": cosine if finite else float("nan"),
           "sqnr_db": round(10 * np.log10(signal / noise), 3) if noise > 0 and signal > 0 else None,
           "finite": finite}
    if classifier_like(want):
        row.update(top_k_agreement(got, want, labels))
    return row


def classifier_like(x: np.ndarray) -> bool:
    """[N, classes] or [classes] scores with at least 10 classes."""
    shape = [d for d in np.shape(x) if d != 1]
    return len(shape) == 1 and shape[0] >= 10


def top_k_agreement(got, want, labels=None) -> dict:
    g, w = np.asarray(got).ravel(), np.asarray(want).ravel()
    g5, w5 = list(np.argsort(-g)[:5]), list(np.argsort(-w)[:5])
    row = {"top1": int(g5[0]), "top1_reference": int(w5[0]), "top1_agree": bool(g5[0] == w5[0]),
           "top5_overlap": len(set(g5) & set(w5)), "top5_agree": set(g5) == set(w5)}
    if labels and len(labels) == w.size:
        row["top1_label"], row["top1_reference_label"] = labels[g5[0]], labels[w5[0]]
    return row


# --- node by node --------------------------------------------------------------------------------------------
def diff_nodes(graph, feeds, device: str, data_type: str, threshold: float, storage_dir=None) -> dict:
    """Every node's output on the engine vs the reference executor, in graph order; names the first node whose
    output falls below `threshold` (cosine). All intermediate tensors become outputs of a copy of the graph, so
    the engine runs the very kernels it ran before, only keeping more buffers alive."""
    from .. import Engine
    from ..ir.graph import Graph
    from ..reference import executor

    float_outputs = [o for n in graph.nodes for o in n.outputs if graph.tensors[o].dtype.startswith("float")]
    probe = Graph(graph.name, list(graph.nodes), dict(graph.tensors), list(graph.inputs),
                  list(dict.fromkeys(float_outputs + list(graph.outputs))), dict(graph.metadata))
    got = Engine(probe, device=device, data_type=data_type, storage_dir=storage_dir).run(feeds)
    want = executor.run(graph, feeds, keep=True)
    rows, first = [], None
    for node in graph.nodes:
        for name in node.outputs:
            if name not in got:
                continue
            m = compare(got[name], want[name])
            row = {"node": node.name, "op_type": node.op_type, "tensor": name, "cosine": m["cosine"],
                   "max_abs_error": m["max_abs_error"], "sqnr_db": m["sqnr_db"],
                   "diverges": not m["cosine"] >= threshold}
            rows.append(row)
            if row["diverges"] and first is None:
                first = row
    return {"reference": "numpy", "first_divergent": first, "nodes": rows}


# --- text for the CLI ----------------------------------------------------------------------------------------
def render_text(result: dict):
    """rich renderables for `pymace validate`."""
    from rich.console import Group
    from rich.table import Table

    verdict = "[green]PASS[/green]" if result["passed"] else "[red]FAIL[/red]"
    head = (f"{verdict}  {Path(result['model']).name} on {result['device']} ({result['data_type']}) vs "
            f"{result['reference']}; cosine ≥ {result['threshold']['value']}")
    parts = [head] + ([f"note: {result['reference_note']}"] if result.get("reference_note") else [])
    table = Table(title="outputs", title_justify="left")
    for c in ("output", "shape", "cosine", "SQNR dB", "max |err|", "top-1 (ref)", "top-5 overlap"):
        table.add_column(c)
    for o in result["outputs"]:
        top1 = f"{o['top1']} ({o['top1_reference']})" if "top1" in o else ""
        if o.get("top1_label"):
            top1 += f" {o['top1_label']}"
        table.add_row(o["name"], str(o["shape"]), f"{o['cosine']:.6f}", _db(o["sqnr_db"]),
                      f"{o['max_abs_error']:.3g}", top1, str(o.get("top5_overlap", "")))
    parts.append(table)
    diff = result.get("diff")
    if diff:
        first = diff["first_divergent"]
        parts.append(f"first divergent node: [bold]{first['node']}[/bold] ({first['op_type']}), tensor "
                     f"{first['tensor']}, cosine {first['cosine']:.6f}, max |err| {first['max_abs_error']:.3g}"
                     if first else "node by node, every node stays above the threshold (the difference is "
                                   "between the reference runtime and pymace's reference executor)")
    return Group(*parts)


def _db(v) -> str:
    return "exact" if v is None else f"{v:.1f}"
