"""Per-kernel device time of a model on the CPU OpenCL device (PoCL): time per kernel name and the slowest steps.

    python benchmarks/cpu_kernels.py [--models mobilenet_v2,light_resnet50,path/to/model.onnx] [--runs 10] [--top 12]

Models are zoo names, the sweep's names (benchmarks/sweep_models.py, fetched into --cache) or model files.

Each step's time is the median over `runs` profiled runs (OpenCL profiling events); GFLOP/s counts a conv's
multiply-adds as 2 FLOPs."""
from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import print_table, random_feeds  # noqa: E402


def conv_flops(graph, node) -> float:
    if node.op_type != "Conv":
        return 0.0
    w = graph.tensors[node.inputs[1]].shape
    y = graph.tensors[node.outputs[0]].shape
    return 2.0 * y[0] * y[1] * y[2] * y[3] * w[1] * w[2] * w[3]


def profile(name: str, runs: int, top: int, data_type: str, cache: str) -> None:
    from pymace import Engine

    if os.path.exists(name):
        engine = Engine(name, device="cpu", data_type=data_type, profile=True)
        graph, feeds = engine.graph, random_feeds(engine.graph)
    else:  # a sweep model (its input shapes and feeds from the catalogue) or a zoo model
        from benchmarks.kernel_ab import load

        graph, feeds = load(name, cache)
        engine = Engine(graph, device="cpu", data_type=data_type, profile=True)
        graph = engine.graph
    engine.run_profiled(feeds)
    samples = [engine.run_profiled(feeds)[1] for _ in range(runs)]
    times = [statistics.median(col) for col in zip(*samples)]
    steps = engine.plan.steps
    per_name = collections.defaultdict(lambda: [0, 0.0, 0.0])
    for s, t in zip(steps, times):
        row = per_name[s.kernel_name]
        row[0] += 1
        row[1] += t
        row[2] += conv_flops(graph, s.node) if s.kernel_name.startswith("conv") else 0.0
    total = sum(times)
    rows = [[k, n, t * 1e3, 100 * t / total, f / t * 1e-9 if f else 0.0]
            for k, (n, t, f) in sorted(per_name.items(), key=lambda kv: -kv[1][1])]
    rows.append(["total", len(steps), total * 1e3, 100.0, 0.0])
    print_table(f"{name} ({data_type}) on {engine.device.name}: device time per kernel, median of {runs}",
                ["kernel", "launches", "ms", "%", "GFLOP/s"], rows)
    slow = sorted(range(len(steps)), key=lambda i: -times[i])[:top]
    rows = []
    for i in slow:
        s = steps[i]
        shape = graph.tensors[s.node.outputs[0]].shape
        f = conv_flops(graph, s.node)
        rows.append([i, s.node.name[:28], s.kernel_name, str(shape), str(s.gws), str(s.lws), times[i] * 1e3,
                     f / times[i] * 1e-9 if f else 0.0])
    print_table("slowest steps", ["step", "node", "kernel", "output", "gws", "lws", "ms", "GFLOP/s"], rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="mobilenet_v2")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--data-type", default="fp32")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/pymace/sweep"), help="the sweep's model cache")
    args = ap.parse_args()
    for name in args.models.split(","):
        profile(name, args.runs, args.top, args.data_type, args.cache)


if __name__ == "__main__":
    main()
