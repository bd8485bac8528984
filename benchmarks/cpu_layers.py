"""Conv layers of the sweep's models, one a graph, on PoCL: device time of each kernel variant, alternating.

    python benchmarks/cpu_layers.py [--layers resnet] [--variants default,conv_direct_cpu] [--rounds 7]

A layer is C:HxW->M kKsS[gG] (input channels, map, output channels, square kernel, stride, groups; pads K//2).
A variant is `default` (the plan's heuristic), a kernel name (forced through the node's kernel_variant), or
NAME=VALUE,... overrides of ops/conv_cpu.py's module constants (e.g. CPU_1X1_MB=6,CPU_1X1_PB=2) with the
heuristic's kernel. Every variant's output is checked against the NumPy reference before any is timed; each
round runs every variant for BURST_S and keeps its fastest run (profiling events): on a shared machine the
fastest of many short runs is the closest to the layer's own time. Printed: GFLOP/s of the fastest run overall,
of the median round, and FLOPs per CPU-second of all threads (PoCL's workers included) — host overhead counts
there, so it means little for layers under a millisecond."""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import print_table  # noqa: E402

BURST_S = 0.03  # a round runs a variant this long (at least once) and keeps its fastest run
LAYERS = {
    "resnet": ["3:224x224->64k7s2", "64:56x56->64k3s1", "64:56x56->128k3s2", "128:28x28->128k3s1",
               "256:14x14->256k3s1", "512:7x7->512k3s1", "64:56x56->256k1s1", "256:56x56->512k1s2",
               "1024:14x14->256k1s1", "2048:7x7->512k1s1"],
    "mobile": ["32:112x112->16k1s1", "16:112x112->96k1s1", "96:112x112->96k3s2g96", "144:56x56->144k3s1g144",
               "144:56x56->24k1s1", "192:28x28->192k3s1g192", "384:14x14->64k1s1", "576:14x14->576k3s1g576",
               "960:7x7->960k3s1g960", "160:7x7->960k1s1", "3:224x224->32k3s2", "240:28x28->240k5s1g240",
               "672:14x14->672k5s2g672"],
    "vgg": ["3:224x224->64k3s1", "64:224x224->64k3s1", "128:112x112->128k3s1", "256:56x56->256k3s1",
            "512:28x28->512k3s1", "512:14x14->512k3s1"],
    "misc": ["24:56x56->24k3s1g3", "48:28x28->48k3s1g6", "64:80x80->64k3s2", "16:160x160->32k3s2",
             "96:28x28->128k3s1", "16:56x56->64k1s1", "64:55x55->256k3s1"],
}


def parse(spec: str):
    m = re.fullmatch(r"(\d+):(\d+)x(\d+)->(\d+)k(\d+)s(\d+)(?:g(\d+))?", spec)
    if not m:
        raise SystemExit(f"bad layer {spec!r}: C:HxW->MkKsS[gG]")
    c, h, w, mo, k, s, g = (int(v) if v else 1 for v in m.groups())
    return c, h, w, mo, k, s, g


def layer_graph(spec: str, rng, kernel: str | None):
    from pymace.ir.graph import Graph, Node, Tensor

    c, h, w, m, k, s, g = parse(spec)
    x = rng.standard_normal((1, c, h, w)).astype(np.float32)
    wt = (rng.standard_normal((m, c // g, k, k)) / np.sqrt(c // g * k * k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    attrs = dict(kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4, dilations=[1, 1], group=g,
                 activation="Relu", **({"kernel_variant": kernel} if kernel else {}))
    oh, ow = (h + 2 * (k // 2) - k) // s + 1, (w + 2 * (k // 2) - k) // s + 1
    tensors = {"x": Tensor("x", x.shape, "float32"), "w": Tensor("w", wt.shape, "float32", wt),
               "b": Tensor("b", b.shape, "float32", b), "y": Tensor("y", (1, m, oh, ow), "float32")}
    graph = Graph("layer", [Node("conv", "Conv", ["x", "w", "b"], ["y"], attrs)], tensors, ["x"], ["y"])
    return graph, {"x": x}, 2.0 * m * oh * ow * (c // g) * k * k


def cpu_seconds() -> float:
    """CPU time this process (PoCL's worker threads included) has used: unlike wall time, it does not grow while
    other jobs on a shared machine hold the cores."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def engine_for(variant: str, graph_of, storage: str, data_type: str):
    """An engine with `variant` applied while its plan is built (constants put back afterwards)."""
    from pymace import Engine
    from pymace.ops import conv_cpu

    kernel, patch = None, {}
    if "=" in variant:
        patch = {k: int(v) for k, v in (kv.split("=") for kv in variant.split(","))}
    elif variant != "default":
        kernel = variant
    saved = {k: getattr(conv_cpu, k) for k in patch}
    try:
        for k, v in patch.items():
            setattr(conv_cpu, k, v)
        graph, feeds, flops = graph_of(kernel)
        engine = Engine(graph, device="cpu", data_type=data_type, storage_dir=storage, profile=True,
                        use_tuning=False)
    finally:
        for k, v in saved.items():
            setattr(conv_cpu, k, v)
    return engine, feeds, flops, graph


def bench_layer(spec: str, variants: list[str], rounds: int, storage: str, data_type: str) -> list:
    from pymace.metrics import rel_err
    from pymace.reference import executor as reference

    runs = {}
    for v in variants:
        rng = np.random.default_rng(0)
        try:
            engine, feeds, flops, graph = engine_for(v, lambda k: layer_graph(spec, rng, k), storage, data_type)
        except Exception as e:  # a variant that cannot run this layer is reported, not fatal
            runs[v] = (None, f"{type(e).__name__}: {str(e)[:60]}")
            continue
        err = rel_err(engine.run(feeds)["y"], reference.run(graph, feeds)["y"])
        runs[v] = ((engine, feeds), err)
    times = {v: [] for v, (r, _) in runs.items() if r}
    cpu = {v: [] for v in times}
    for _ in range(rounds):
        for v in times:
            engine, feeds = runs[v][0]
            c0, burst = cpu_seconds(), []
            while not burst or (sum(burst) < BURST_S and len(burst) < 50):
                burst.append(sum(engine.run_profiled(feeds)[1]))
            times[v].append(min(burst))
            cpu[v].append((cpu_seconds() - c0) / len(burst))
    row = [spec, f"{flops / 1e9:.3f}"]
    for v in variants:
        if v not in times:
            row.append(f"— {runs[v][1]}")
            continue
        t, best, used = statistics.median(times[v]), min(times[v]), statistics.median(cpu[v])
        kernel = runs[v][0][0].plan.steps[-1].kernel_name
        bad = "" if runs[v][1] <= (1e-4 if data_type == "fp32" else 1e-2) else f" ERR {runs[v][1]:.1e}"
        row.append(f"{flops / best / 1e9:.0f} ({flops / t / 1e9:.0f}, {flops / used / 1e9:.0f}) {kernel}{bad}")
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", default="resnet", help="group names of LAYERS and/or layer specs, comma-separated")
    ap.add_argument("--variants", default="default")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--data-type", default="fp32")
    ap.add_argument("--storage", default=os.environ.get("PYMACE_STORAGE_DIR", "/tmp/pymace-cpu-layers"))
    args = ap.parse_args()
    specs = [s for part in args.layers.split(",") for s in LAYERS.get(part, [part])]
    variants = args.variants.split(";")
    rows = [bench_layer(s, variants, args.rounds, args.storage, args.data_type) for s in specs]
    print_table(f"conv layers on PoCL ({args.data_type}): GFLOP/s best (median round, per CPU-second) of "
                f"{args.rounds} rounds, load {os.getloadavg()[0]:.1f}", ["layer", "GFLOP", *variants], rows)


if __name__ == "__main__":
    main()
