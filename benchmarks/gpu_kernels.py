"""Per-kernel device times of pymace's models on a GPU, for several kernel-choice variants, in one run: the
workbench for conv/gemm speed (see benchmarks/NOTES.md). For each model, variant and storage type it prints the
device-only latency (median of enqueue-all + finish), the sum of per-kernel profiled times, the time per kernel
name, and the slowest steps; the full per-step numbers go to OUT/gpu_kernels.json.

    python benchmarks/gpu_kernels.py --assets DIR [--models mobilenet_v2,resnet50] [--variants new,old] [--runs 30]

Variants patch module constants of pymace.ops.conv_gemm / conv_variants / gemm for the run (experiments, not
settings). 32x32 conv_gemm tiles for small layers are among `pymace tune`'s candidates (conv_gemm.tilings)."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from contextlib import contextmanager

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import cosine, device_only, median_ms  # noqa: E402
from benchmarks.gpu import pmace_for, torch_model  # noqa: E402
from pymace.ops import conv_gemm, conv_variants, gemm, separable_conv, squeeze_excite  # noqa: E402


def _old_conv_kernel(original):
    """The kernel choice before conv_gemm: conv1x1 / conv_direct on the GPU too."""

    def kernel(layer, device):
        name = original(layer, device)
        return ("conv1x1" if layer.is_1x1 else "conv_direct") if name == "conv_gemm" else name

    return kernel


DEVICE = "gpu"
VARIANTS = {  # name -> {(module, attribute): value or function of the original}
    "new": {},
    "old": {(conv_variants, "default_kernel"): _old_conv_kernel, (gemm, "SPLITK_MAX_ROWS"): 0},
    "nosplit": {(conv_gemm, "GEMM_MIN_SLICES"): 1 << 30},
    "fill4": {(conv_gemm, "GEMM_FILL"): 4},
    "fill1": {(conv_gemm, "GEMM_FILL"): 1},
    "ms4": {(conv_gemm, "GEMM_MIN_SLICES"): 4},
    "tk64": {(conv_gemm, "GEMM_MAX_TK"): 64},
    "ms4fill4": {(conv_gemm, "GEMM_MIN_SLICES"): 4, (conv_gemm, "GEMM_FILL"): 4},
    "tk16": {(conv_gemm, "GEMM_MAX_TK"): 16, (conv_gemm, "GEMM_MIN_SLICES"): 32},
    "ms2": {(conv_gemm, "GEMM_MIN_SLICES"): 2},
    "ms2fill4": {(conv_gemm, "GEMM_MIN_SLICES"): 2, (conv_gemm, "GEMM_FILL"): 4},
    "ms1fill4": {(conv_gemm, "GEMM_MIN_SLICES"): 1, (conv_gemm, "GEMM_FILL"): 4},
    "last8": {(conv_gemm, "LAST_MAX_SPLIT"): 8},
    "last16": {(conv_gemm, "LAST_MAX_SPLIT"): 16},
    "fill1-last8": {(conv_gemm, "GEMM_FILL"): 1, (conv_gemm, "LAST_MAX_SPLIT"): 8},
    "fused-last0": {(separable_conv, "FUSED_LAST_MAX_SPLIT"): 0},  # fused SeparableConv: every split a reduction
    "fused-last8": {(separable_conv, "FUSED_LAST_MAX_SPLIT"): 8},
    "se-fused": {(squeeze_excite, "FUSED_MAX_POOL"): 1 << 20},  # every SE block's means inside se_fc: one launch
    "plain-gemm": {(gemm, "TILED_MIN_ROWS"): 1 << 30},  # Gemm/MatMul without gemm_tiled
    "gemm64": {(gemm, "TILINGS"): ((64, 64, 8),)},
    "gemm-rm4": {(gemm, "TILINGS"): ((64, 64, 4), (32, 64, 4), (32, 32, 4))},
    "gemm32": {(gemm, "TILINGS"): ((32, 32, 4),)},
    "gemm-nosplit": {(gemm, "SPLITS"): (1,)},
    "gemm-tk32": {(gemm, "TILED_TK"): 32},
    "gemm-rm8": {(gemm, "TILINGS"): ((128, 64, 8), (64, 64, 8), (32, 32, 4))},
    "t32": {(gemm, "TILINGS"): ((32, 32, 4),)},
    "t32-nosplit": {(gemm, "TILINGS"): ((32, 32, 4),), (gemm, "SPLITS"): (1,)},
    "st512": {(gemm, "SPLIT_THREADS"): 512},
    "st1024": {(gemm, "SPLIT_THREADS"): 1024},
    "st1024-ms4": {(gemm, "SPLIT_THREADS"): 1024, (gemm, "SPLIT_MIN_SLICES"): 4},
    "gemm-rm8-tk32": {(gemm, "TILINGS"): ((128, 64, 8), (64, 64, 8), (32, 32, 4)), (gemm, "TILED_TK"): 32},
}


@contextmanager
def patched(variant: str):
    saved = []
    for (module, attr), value in VARIANTS[variant].items():
        saved.append((module, attr, getattr(module, attr)))
        setattr(module, attr, value(getattr(module, attr)) if callable(value) else value)
    try:
        yield
    finally:
        for module, attr, value in saved:
            setattr(module, attr, value)


def profile(graph, feeds, data_type: str, runs: int):
    from pymace import Engine

    engine = Engine(graph, device=DEVICE, data_type=data_type, profile=True, use_tuning=False)
    out = engine.run(feeds)
    per_step = [engine.run_profiled(feeds)[1] for _ in range(runs)]
    step_us = [statistics.median(t[i] for t in per_step) * 1e6 for i in range(len(engine.plan.steps))]
    return engine, out, step_us, median_ms(device_only(engine), runs * 3, 10)


def load(name: str, assets: str, work: str):
    """(torch model, pymace graph): benchmarks/gpu.py's models, else gpu_sweep's torchvision architectures."""
    model = torch_model(name, assets)
    if model is not None or name == "blazeface":
        return model, pmace_for(name, assets, work, model)
    from benchmarks import gpu_sweep
    from pymace.tools.convert import convert

    model = gpu_sweep.torch_model(name)
    onnx_path = os.path.join(work, f"{name}.onnx")
    gpu_sweep.export(model, onnx_path)
    return model, convert(onnx_path, os.path.join(work, f"{name}.pmace"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", required=True)
    ap.add_argument("--work", default="/tmp/pymace-gpu")
    ap.add_argument("--models", default="mobilenet_v2,resnet50")
    ap.add_argument("--variants", default="new,old")
    ap.add_argument("--dtypes", default="fp32,fp16")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--device", default="gpu")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    os.makedirs(args.work, exist_ok=True)
    out_dir = os.environ.get("OUT", args.work)
    summary, dump = [], {}
    for model_name in args.models.split(","):
        model, graph = load(model_name, args.assets, args.work)
        feeds = {n: np.random.default_rng(0).uniform(-1, 1, graph.tensors[n].shape).astype(np.float32)
                 for n in graph.inputs}
        ref = None
        if model is not None:
            import torch

            with torch.inference_mode():
                ref = model(torch.from_numpy(next(iter(feeds.values())))).numpy()
        for variant in args.variants.split(","):
            for data_type in args.dtypes.split(","):
                with patched(variant):
                    engine, out, step_us, dev_ms = profile(graph, feeds, data_type, args.runs)
                cos = cosine(next(iter(out.values())), ref) if ref is not None else float("nan")
                steps = engine.plan.steps
                by_kernel: dict[str, list[float]] = {}
                for s, us in zip(steps, step_us):
                    by_kernel.setdefault(s.kernel_name, []).append(us)
                key = f"{model_name}/{variant}/{data_type}"
                summary.append((key, dev_ms, sum(step_us) / 1e3, len(steps), cos))
                dump[key] = [{"node": s.node.name, "op": s.node.op_type, "kernel": s.kernel_name, "gws": s.gws,
                              "lws": s.lws, "options": s.options, "us": us} for s, us in zip(steps, step_us)]
                print(f"\n== {key}: device-only {dev_ms:.3f} ms, kernels {sum(step_us) / 1e3:.3f} ms, "
                      f"{len(steps)} launches, cosine vs torch {cos:.7f}")
                for name, ts in sorted(by_kernel.items(), key=lambda kv: -sum(kv[1])):
                    print(f"   {name:22s} {len(ts):3d} launches {sum(ts):9.1f} us")
                order = sorted(range(len(steps)), key=lambda i: -step_us[i])[:args.top]
                for i in order:
                    s = steps[i]
                    opts = " ".join(o for o in s.options.split() if o.startswith(("-DT", "-DSPLIT", "-DK", "-DSH")))
                    print(f"   {step_us[i]:7.1f} us  {s.kernel_name:18s} gws={s.gws} lws={s.lws} {opts}")
                sys.stdout.flush()
    with open(os.path.join(out_dir, "gpu_kernels.json"), "w") as f:
        json.dump(dump, f)
    print("\nsummary (median ms): model/variant/dtype, device-only, sum of kernels, launches, cosine vs torch")
    for key, dev_ms, k_ms, n, cos in summary:
        print(f"  {key:28s} {dev_ms:7.3f} {k_ms:7.3f} {n:4d} {cos:.7f}")


if __name__ == "__main__":
    main()
