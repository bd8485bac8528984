"""Launches a GPU plan makes per model, for each plan variant (benchmarks/fusion_variants.py), without a GPU: the
OpenCL device here (PoCL in CI) is described as a 132-unit GPU and only the planning step runs (no kernel is
built). With --check each variant's plan also runs here, against onnxruntime (cosine, max relative error).

    python benchmarks/gpu_launches.py --onnx-dir DIR [--models a,b] [--variants default,before,...] [--check]

DIR holds `<model>*.onnx` (benchmarks/gpu_sweep.py's --work folder, or the sweep's exports). Launches are fp32's:
fp16 storage adds one cast launch per graph input and output. "ms at 6–8 µs" is the host's enqueue floor of the
plan on NVIDIA's OpenCL (/work/shared/device/README.md)."""
from __future__ import annotations

import argparse
import collections
import dataclasses
import glob
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import cosine, print_table  # noqa: E402
from benchmarks.fusion_variants import check, variant_env  # noqa: E402
from benchmarks.gpu_sweep import MODELS, count_convs  # noqa: E402


def gpu_described(selector: str):
    from pymace.runtime import device as devices

    return dataclasses.replace(devices.select(selector), is_gpu=True, compute_units=132)


def plan_launches(graph, device) -> tuple[int, collections.Counter]:
    """(launches, launches by op type) of the fp32 plan `graph` gets on `device` (planning only)."""
    from pymace.runtime.plan import make_plan

    by_op = collections.Counter(launch.node.op_type for launch in make_plan(graph, device.traits, "fp32").launches)
    return sum(by_op.values()), by_op


def run_check(graph, onnx_path: str, device, storage: str) -> tuple[float, float]:
    """(cosine, max|err|/max|ref|) of the plan's output run here vs onnxruntime on the same random input."""
    import onnxruntime as ort

    from pymace import Engine
    from pymace.runtime import device as devices

    select = devices.select
    devices.select = lambda spec: device  # the engine selects the device by name: keep the GPU description
    try:
        engine = Engine(graph, device=device.selector, data_type="fp32", storage_dir=storage)
        x = np.random.default_rng(0).standard_normal(graph.tensors[graph.inputs[0]].shape).astype(np.float32)
        got = engine.run({graph.inputs[0]: x})[graph.outputs[0]]
    finally:
        devices.select = select
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    want = session.run(None, {session.get_inputs()[0].name: x})[0]
    return cosine(got, want), float(np.abs(got - want).max() / np.abs(want).max())


def find_onnx(folder: str, name: str) -> str | None:
    found = sorted(glob.glob(os.path.join(folder, f"{name}.onnx")) +
                   glob.glob(os.path.join(folder, f"{name}-s0-*.onnx")))
    return next((p for p in found if "qdq" not in p and "-r2-" not in p), None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx-dir", default="/tmp/pymace-gpu-sweep")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--variants", default="none,before,default,split-last")
    ap.add_argument("--device", default="cpu", help="the OpenCL device to describe as a GPU")
    ap.add_argument("--check", action="store_true", help="also run each plan here against onnxruntime")
    args = ap.parse_args()
    from pymace.tools.convert import convert

    variants = check(args.variants.split(","))
    device, work = gpu_described(args.device), tempfile.mkdtemp(prefix="pymace-launches-")
    rows, ops_rows = [], []
    for name in args.models.split(","):
        path = find_onnx(args.onnx_dir, name)
        if path is None:
            rows.append([name, "no ONNX file"] + [""] * len(variants))
            continue
        try:
            graph = convert(path, os.path.join(work, f"{name}.pmace"))
        except Exception as e:  # a model that does not convert is a row, not the end of the table
            rows.append([name, f"{type(e).__name__}: {str(e)[:60]}"] + [""] * len(variants))
            continue
        convs, counts = count_convs(graph), []
        for variant in variants:
            with variant_env(variant):
                launches, by_op = plan_launches(graph, device)
                checked = run_check(graph, path, device, os.path.join(work, "storage")) if args.check else None
            counts.append(f"{launches} ({launches / convs:.2f})" + (f" cos {checked[0]:.6f}" if checked else ""))
            ops_rows.append([name, variant, launches, ", ".join(f"{k} {v}" for k, v in by_op.most_common())])
        rows.append([name, convs, *counts])
        print(rows[-1], flush=True)
    print_table(f"launches per plan (÷ convs), {device.name} described as a GPU", ["model", "convs", *variants], rows)
    print_table("launches by op type", ["model", "variant", "launches", "by op"], ops_rows)


if __name__ == "__main__":
    main()
