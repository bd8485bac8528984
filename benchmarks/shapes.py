"""One Engine running a model with dynamic dims at several input shapes: what each new shape costs (specialise,
plan, programs built vs shared, weight bytes it uploads, the first run), a run of a shape already planned, and
onnxruntime at the same shape; every output checked against onnxruntime first.

    python benchmarks/shapes.py [--model ppocr_det] [--device cpu] [--shapes 1x3x320x320,1x3x256x416,2x3x192x224]
    python benchmarks/shapes.py --model rec.onnx --fix x=N,3,48,W --shapes 1x3x48x320,1x3x48x160,2x3x48x256

--model: a zoo name (its ONNX source is opened, dims dynamic) or a path to an .onnx file with dynamic dims.
On the GPU machine: python benchmarks/shapes.py --device gpu."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import cosine, median_ms, print_table  # noqa: E402


def source_path(model: str) -> str:
    if os.path.exists(model):
        return model
    from pymace.tools import zoo

    return str(zoo.source(model))


def shape_row(engine, session, shape, runs: int) -> list:
    """The table row of one input shape, planned by its first run."""
    name = engine.get_inputs()[0].name
    x = np.random.default_rng(sum(shape)).uniform(-1, 1, shape).astype(np.float32)
    t = time.perf_counter()
    [got] = engine.run(None, {name: x})
    first_s = time.perf_counter() - t
    stats = engine.plans[-1].stats
    [want] = session.run(None, {name: x})
    warm = median_ms(lambda: engine.run(None, {name: x}), runs=runs, warmup=1)
    peer = median_ms(lambda: session.run(None, {name: x}), runs=runs, warmup=1)
    return ["x".join(map(str, shape)), stats["specialize_seconds"], stats["plan_seconds"],
            f"{stats['programs_from_source']}/{stats['programs_needed']}", stats["weight_bytes_uploaded"],
            first_s, warm, peer, cosine(got, want)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ppocr_det")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--shapes", default="1x3x320x320,1x3x256x416,2x3x192x224")
    ap.add_argument("--runs", type=int, default=5, help="timed runs a shape (median)")
    ap.add_argument("--fix", help="NAME=D0,D1,…: dims fixed at conversion (a name keeps a dim dynamic)")
    ap.add_argument("--storage-dir", help="default: a fresh temporary dir (a cold program cache)")
    args = ap.parse_args(argv)
    import onnxruntime as ort

    import pymace

    path = source_path(args.model)
    shapes = [tuple(int(d) for d in s.split("x")) for s in args.shapes.split(",")]
    storage = args.storage_dir or tempfile.mkdtemp(prefix="pymace-shapes-")
    t = time.perf_counter()
    fixed = None
    if args.fix:
        name, dims = args.fix.split("=", 1)
        fixed = {name: [int(d) if d.isdigit() else d for d in dims.split(",")]}
    opened = pymace.Engine.with_input_shapes(path, fixed, storage, device=args.device) if fixed else \
        pymace.Engine(path, device=args.device, storage_dir=storage)
    with opened as engine:
        init_s = time.perf_counter() - t
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        rows = [shape_row(engine, session, shape, args.runs) for shape in shapes]
        weights = engine._plans.weights.bytes
    print_table(f"{os.path.basename(path)} on {args.device}: init {init_s:.1f} s (conversion when not in the "
                f"storage dir, the example shape's plan); weights on the device {weights} bytes",
                ["shape", "specialise s", "plan s", "programs built/needed", "weight bytes new", "first run s",
                 "planned run ms", "onnxruntime ms", "cosine"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
