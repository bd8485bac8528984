"""One model of the sweep, in its own process: convert with pymace, run on an OpenCL device in fp32 and fp16
storage against onnxruntime / LiteRT on fresh random inputs in the model's range, time both alternately.

    python benchmarks/sweep_run.py --model NAME --file PATH [--device cpu] [--no-fp16] [--skip-timing]

Prints `SWEEP-RESULT {json}` after every stage, so a crash or a hang later still leaves what was learnt
(benchmarks/sweep.py keeps the last one)."""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.sweep_models import RANGES, Model, catalogue  # noqa: E402

COSINE_MIN = {"fp32": 0.9999, "fp16": 0.995}
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)


def emit(record: dict) -> None:
    print("SWEEP-RESULT " + json.dumps(record), flush=True)


def one_line(e: BaseException) -> str:
    from pymace.errors import PymaceError

    text = str(e).strip().splitlines()
    msg = text[0] if text else ""
    return msg if isinstance(e, PymaceError) else f"{type(e).__name__}: {msg}"


def source_ops(path: str, fmt: str) -> collections.Counter:
    """Op types of the source model and how many nodes each has."""
    if fmt == "onnx":
        import onnx

        m = onnx.load(path, load_external_data=False)
        return collections.Counter(n.op_type for n in m.graph.node)
    from ai_edge_litert.interpreter import Interpreter

    return collections.Counter(o["op_name"] for o in Interpreter(model_path=path)._get_ops_details())


def unsupported(message: str) -> list[str]:
    """The op types named by pymace's 'unsupported op(s): A (nodes: …); B (nodes: …)' error."""
    if "unsupported op" not in message:
        return []
    head = message.split(". pymace supports")[0]
    return re.findall(r"(?:op\(s\): |\); )([A-Za-z0-9_.]+) \(nodes:", head)


def random_feeds(graph, model: Model, seed: int) -> dict[str, np.ndarray]:
    """Fresh inputs in each input's range (RANGES); integer inputs (quantized models) over their type's range."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name in graph.inputs:
        t = graph.tensors[name]
        kind, low, high = RANGES[model.ranges.get(name, model.input_range)]
        if np.issubdtype(np.dtype(t.dtype), np.integer):  # its range if it has one, else its type's
            info = np.iinfo(t.dtype)
            low, high = (int(low), int(high)) if name in model.ranges else (info.min, int(info.max))
            feeds[name] = rng.integers(low, high + 1, t.shape).astype(t.dtype)
            continue
        if kind == "normal":
            x = rng.standard_normal(t.shape)
        elif kind == "page":
            x = _page(t.shape) + rng.normal(low, high, t.shape)
        elif kind == "photo":
            x = _photo(t.shape) + rng.normal(low, high, t.shape)
        else:
            x = rng.uniform(low, high, t.shape)
        if kind == "imagenet":  # an image in [0, 1], normalised along its channel axis (NCHW)
            x = (x - _MEAN.reshape(_channel_shape(t.shape))) / _STD.reshape(_channel_shape(t.shape))
        feeds[name] = x.astype(np.float32)
    return feeds


def _channel_shape(shape) -> list[int]:
    out = [1] * len(shape)
    out[1] = 3
    return out


def _photo(shape) -> np.ndarray:
    """scikit-image's `astronaut` resized to the NHWC input, in [0, 1]."""
    import skimage.data
    import skimage.transform

    return skimage.transform.resize(skimage.data.astronaut(), shape[1:3]).astype(np.float32)[None]


def _page(shape) -> np.ndarray:
    """scikit-image's `page` resized to the NCHW input, ImageNet-normalised, on every channel."""
    import skimage.data
    import skimage.transform

    img = skimage.transform.resize(skimage.data.page(), shape[2:]).astype(np.float32)
    x = np.stack([(img - m) / s for m, s in zip(_MEAN, _STD)])[None]
    return np.broadcast_to(x, shape)


def reference(path: str, fmt: str, graph, cache: str | None = None):
    """A callable feeds -> [outputs in graph.outputs order] in the source framework's runtime, and its name."""
    threads = os.cpu_count()
    if fmt == "tflite":
        return _litert(path, graph, threads, cache)
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    in_names = [i.name for i in sess.get_inputs()]
    out_names = [o.name for o in sess.get_outputs()]
    wanted = list(graph.outputs) if set(graph.outputs) <= set(out_names) else None
    by_name = set(graph.inputs) <= set(in_names)

    def run_onnx(feeds):
        named = feeds if by_name else dict(zip(in_names, feeds.values()))
        return sess.run(wanted, named)

    return run_onnx, "onnxruntime"


def _litert(path: str, graph, threads: int, cache: str | None):
    """LiteRT, with MediaPipe's own kernels for MediaPipe's custom ops (benchmarks/mediapipe_kernels.py), its
    inputs resized to the shapes pymace converted at."""
    from ai_edge_litert.interpreter import Interpreter

    from benchmarks import mediapipe_kernels

    name = "LiteRT"
    if mediapipe_kernels.CUSTOM_OPS & set(graph.metadata.get("tflite_ops", ())):
        from benchmarks.sweep_fetch import download
        from benchmarks.sweep_models import PACKAGES

        wheel = download(PACKAGES["mediapipe"], Path(cache))
        bindings = mediapipe_kernels.extract(wheel, Path(cache) / "mediapipe-kernels")
        interp, name = mediapipe_kernels.interpreter(path, bindings, threads), "LiteRT + MediaPipe's kernels"
    else:
        interp = Interpreter(model_path=path, num_threads=threads)
    ins = interp.get_input_details()
    for d, input_name in zip(ins, graph.inputs):
        if list(d["shape"]) != list(graph.tensors[input_name].shape):
            interp.resize_tensor_input(d["index"], list(graph.tensors[input_name].shape))
    interp.allocate_tensors()
    outs = interp.get_output_details()

    def run_tflite(feeds):
        for d, input_name in zip(ins, graph.inputs):
            interp.set_tensor(d["index"], feeds[input_name])
        interp.invoke()
        return [interp.get_tensor(o["index"]) for o in outs]

    return run_tflite, name


def agreement(ours: dict, theirs: list, outputs: list[str]) -> tuple[float, str]:
    """The lowest cosine over the outputs, and a note when a shape differs (compared flat if sizes agree)."""
    if len(theirs) != len(outputs):
        return float("nan"), f"{len(outputs)} outputs vs the reference's {len(theirs)}"
    worst, note = 1.0, ""
    for name, want in zip(outputs, theirs):
        got, want = np.asarray(ours[name], np.float64), np.asarray(want, np.float64)
        if got.shape != want.shape:
            if got.size != want.size:
                return float("nan"), f"output {name}: shape {got.shape} vs the reference's {want.shape}"
            note = f"output {name}: shape {got.shape} vs {want.shape}, compared flat"
        a, b = got.ravel(), want.ravel()
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            return float("nan"), f"output {name}: non-finite values"
        denom = np.linalg.norm(a) * np.linalg.norm(b)
        cos = float(a @ b / denom) if denom > 0 else float(np.array_equal(a, b))
        worst = min(worst, cos)
    return worst, note


def alternate(fns: dict, reps: int, budget_s: float, max_reps: int = 50) -> dict[str, float]:
    """Median ms of each callable, timed in turn (a, b, c, a, b, c, …) after two warm-up rounds."""
    for _ in range(2):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    end = time.perf_counter() + budget_s
    while len(times[next(iter(fns))]) < reps or (time.perf_counter() < end and len(times[next(iter(fns))]) < max_reps):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def _count(rec: dict, op: str):
    ops = rec.get("source_ops", {})
    return ops.get(op, ops.get(op.rsplit(".", 1)[-1], "?"))  # pymace names custom-domain ops domain.Op


def convert_stage(rec: dict, model: Model, path: str):
    from benchmarks.sweep_roofline import graph_work
    from pymace.tools.convert import convert

    try:
        rec["source_ops"] = dict(source_ops(path, model.fmt))
    except Exception as e:  # the census is informative only
        rec["source_ops_error"] = one_line(e)
    t = time.perf_counter()
    try:
        graph = convert(path, input_shapes=model.shapes or None)
    except Exception as e:
        msg = one_line(e)
        ops = unsupported(msg)
        rec.update(status="convert", unsupported=ops, error=str(e).strip()[:4000],
                   reason=("unsupported: " + ", ".join(f"{o}×{_count(rec, o)}" for o in ops)
                           if ops else msg[:200]))
        return None
    rec.update(converted=True, convert_s=time.perf_counter() - t, nodes=len(graph.nodes),
               inputs={n: list(graph.tensors[n].shape) for n in graph.inputs}, **graph_work(graph))
    return graph


def run_stage(rec: dict, graph, data_type: str, args, ours_fns: dict, feeds, want) -> bool:
    from pymace import Engine

    key = data_type
    try:
        t = time.perf_counter()
        engine = Engine(graph, device=args.device, data_type=data_type, storage_dir=args.storage_dir)
        rec[f"{key}_init_s"] = time.perf_counter() - t
        rec[f"{key}_launches"] = len(engine.plan.steps)
        ours = engine.run(feeds)
    except Exception as e:
        rec.update(status=f"{key} run", reason=one_line(e)[:200], error=traceback.format_exc()[-3000:])
        return False
    cos, note = agreement(ours, want, graph.outputs)
    rec[f"{key}_cosine"] = cos
    if note:
        rec[f"{key}_note"] = note
    rec[f"{key}_correct"] = bool(cos >= COSINE_MIN[key])
    ours_fns[f"pymace_{key}"] = lambda: engine.run(feeds)
    return True


def sweep_one(model: Model, path: str, args) -> dict:
    rec = {"name": model.name, "source": model.source, "format": model.fmt, "what": model.what,
           "converted": False, "status": "started"}
    emit(rec)
    graph = convert_stage(rec, model, path)
    emit(rec)
    if graph is None:
        return rec
    feeds = random_feeds(graph, model, args.seed)
    try:
        ref, rec["reference"] = reference(path, model.fmt, graph, args.cache_dir)
        want = ref(feeds)
    except Exception as e:
        rec.update(status="reference", reason=f"the reference runtime failed: {one_line(e)[:160]}")
        return rec
    fns: dict = {}
    for data_type in ["fp32"] + (["fp16"] if args.fp16 else []):
        if not run_stage(rec, graph, data_type, args, fns, feeds, want):
            return rec
        emit(rec)
    ok = all(rec.get(f"{d}_correct") for d in ["fp32"] + (["fp16"] if args.fp16 else []))
    rec.update(status="ok" if ok else "wrong", correct=ok)
    if not ok:
        rec["reason"] = " ".join(f"{d} cosine {rec[f'{d}_cosine']:.6f}" for d in ("fp32", "fp16")
                                 if f"{d}_cosine" in rec) + (" " + rec.get("fp32_note", ""))
    if not args.skip_timing:
        emit(rec)
        fns["reference"] = lambda: ref(feeds)
        ms = alternate(fns, args.reps, args.budget)
        rec["ms"] = ms
    return rec


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--file", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--storage-dir", default=None)
    ap.add_argument("--no-fp16", dest="fp16", action="store_false")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--reps", type=int, default=5, help="alternating repetitions at least")
    ap.add_argument("--budget", type=float, default=6.0, help="seconds of timing beyond the minimum repetitions")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=None, help="the sweep's cache (default: the storage dir's parent)")
    args = ap.parse_args()
    if args.cache_dir is None and args.storage_dir:
        args.cache_dir = str(Path(args.storage_dir).parent)
    model = {m.name: m for m in catalogue()}[args.model]
    emit(sweep_one(model, args.file, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
