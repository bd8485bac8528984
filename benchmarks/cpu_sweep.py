"""pymace on PoCL (the CPU) against onnxruntime / LiteRT over a set of real models: same process, timed
alternately (pymace fp32, pymace fp16, reference, …), threads = cores, medians; achieved GFLOP/s against the
machine's measured peak (benchmarks/cpu_peak.py), and where pymace's device time goes (per-op profile).

    python benchmarks/cpu_sweep.py [--models tv_resnet18,...] [--reps 5] [--budget 10] [--json out.json]
    python benchmarks/cpu_sweep.py --from-json out.json          # print a saved run again
    python benchmarks/cpu_sweep.py --compare 'before-*.json' 'after-*.json'   # two trees (benchmarks/cpu_ab.sh)

Models come from the sweep's catalogue (benchmarks/sweep_models.py) and its cache ($PYMACE_SWEEP_CACHE, e.g.
/work/sweep-cache; torchvision exports need a torch Python, --torch-python or $PYMACE_TORCH_PYTHON). Each model
runs in its own process. Ratios are pymace / reference; the geometric means are over the models that ran."""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import print_table  # noqa: E402

DEFAULT_MODELS = ("tv_resnet18,tv_resnet50,tv_squeezenet1_1,tv_shufflenet_v2_x1_0,tv_googlenet,tv_mobilenet_v2,"
                  "tv_mobilenet_v3_large,tv_efficientnet_b0,nudenet_320n,ppocr_v4_det,ppocr_v2_cls,"
                  "mp_face_detection_short_range,light_vgg19")
# what each profiled step counts as: copies are the ops that only move data (issue 15: Concat/Split/Slice/
# shuffles without copies come after the runtime refactor, so their cost is reported per model)
COPY_OPS = {"Concat", "Split", "Slice", "Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Pad",
            "DepthToSpace", "SpaceToDepth", "Gather", "Expand", "Tile", "Identity", "Cast"}
PREFIX = "CPU-SWEEP "


def category(op_type: str, kernel: str) -> str:
    if op_type == "Conv":
        return kernel
    if op_type in COPY_OPS or kernel.startswith(("storage", "stage", "cast", "to_fp", "from_fp")):
        return "copies"
    return op_type


def profile(graph, feeds, storage: str, runs: int = 3) -> dict:
    """Median device ms per category over `runs` profiled runs, and the launch count."""
    import statistics

    from pymace import Engine

    engine = Engine(graph, device="cpu", data_type="fp32", storage_dir=storage, profile=True)
    engine.run_profiled(feeds)
    samples = [engine.run_profiled(feeds)[1] for _ in range(runs)]
    times = [statistics.median(col) for col in zip(*samples)]
    out: dict[str, float] = {}
    for step, t in zip(engine.plan.steps, times):
        key = category(step.node.op_type, step.kernel_name)
        out[key] = out.get(key, 0.0) + t * 1e3
    return {"device_ms": sum(times) * 1e3, "by": out, "launches": len(engine.plan.steps)}


def one(name: str, args) -> dict:
    """Convert, check and time one model (run in its own process)."""
    from benchmarks import sweep_fetch, sweep_run
    from benchmarks.sweep_models import catalogue
    from benchmarks.sweep_roofline import graph_work
    from pymace import Engine
    from pymace.tools.convert import convert

    model = {m.name: m for m in catalogue()}[name]
    path = str(sweep_fetch.model_file(model, Path(args.cache), sweep_fetch.find_torch_python(args.torch_python)))
    graph = convert(path, input_shapes=model.shapes or None)
    rec = {"name": name, "format": model.fmt, **graph_work(graph)}
    feeds = sweep_run.random_feeds(graph, model, 0)
    ref, rec["reference"] = sweep_run.reference(path, model.fmt, graph, args.cache)
    want = ref(feeds)
    fns = {}
    for dt in args.data_types.split(","):
        engine = Engine(graph, device="cpu", data_type=dt, storage_dir=args.storage)
        rec[f"{dt}_cosine"], _ = sweep_run.agreement(engine.run(feeds), want, graph.outputs)
        rec["launches"] = len(engine.plan.steps)
        fns[dt] = (lambda e: lambda: e.run(feeds))(engine)
    fns["reference"] = lambda: ref(feeds)
    rec["ms"] = sweep_run.alternate(fns, args.reps, args.budget)
    rec["load"] = os.getloadavg()[0]
    if args.profile:
        rec["profile"] = profile(graph, feeds, args.storage)
    return rec


def run_all(args) -> list[dict]:
    records = []
    for name in args.models.split(","):
        cmd = [sys.executable, __file__, "--one", name, "--reps", str(args.reps), "--budget", str(args.budget),
               "--cache", args.cache, "--storage", args.storage, "--data-types", args.data_types]
        cmd += (["--torch-python", args.torch_python] if args.torch_python else []) + \
               (["--profile"] if args.profile else [])
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(PREFIX)]
        rec = json.loads(lines[-1][len(PREFIX):]) if lines else {
            "name": name, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]}
        rec["wall_s"] = time.perf_counter() - t
        records.append(rec)
        print(f"{name}: {rec.get('ms', rec.get('error'))}", file=sys.stderr, flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(records, indent=1))
    return records


def geomean(values) -> float:
    values = [v for v in values if v and v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def report(records: list[dict], peak: float | None) -> None:
    rows, r32, r16, f16 = [], [], [], []
    for r in records:
        if "ms" not in r:
            rows.append([r["name"], r.get("error", "?")] + [""] * 10)
            continue
        ms, gflop = r["ms"], r["flops"] / 1e9
        a, b = ms["fp32"] / ms["reference"], ms.get("fp16", float("nan")) / ms["fp32"]
        r32.append(a)
        r16.append(ms.get("fp16", 0) / ms["reference"])
        f16.append(b)
        gf = gflop / ms["fp32"] * 1e3
        rows.append([r["name"], r["reference"], gflop, ms["reference"], ms["fp32"], ms.get("fp16", float("nan")),
                     a, b, gf, gflop / ms["reference"] * 1e3, f"{100 * gf / peak:.0f}%" if peak else "",
                     r["launches"], f"{r.get('fp32_cosine', float('nan')):.6f}", f"{r.get('fp16_cosine', 0):.5f}"])
    rows.append(["geomean", "", "", "", "", "", geomean(r32), geomean(f16), "", "", "", "", "", ""])
    print_table(f"pymace on PoCL vs the reference, same process, alternating, medians (peak {peak or '?'} GFLOP/s)",
                ["model", "ref", "GFLOP", "ref ms", "fp32 ms", "fp16 ms", "fp32/ref", "fp16/fp32",
                 "GFLOP/s", "ref GFLOP/s", "of peak", "launches", "cos fp32", "cos fp16"], rows)
    print(f"geomean fp32/ref {geomean(r32):.3f}, fp16/ref {geomean(r16):.3f}, worst fp32/ref "
          f"{max(r32, default=float('nan')):.3f}")
    profiled = [r for r in records if "profile" in r]
    if profiled:
        report_profiles(profiled)


def report_profiles(records: list[dict]) -> None:
    keys: dict[str, float] = {}
    for r in records:
        for k, v in r["profile"]["by"].items():
            keys[k] = keys.get(k, 0.0) + v / r["profile"]["device_ms"]
    cols = [k for k, _ in sorted(keys.items(), key=lambda kv: -kv[1])][:9]
    rows = []
    for r in records:
        p = r["profile"]
        other = p["device_ms"] - sum(p["by"].get(k, 0.0) for k in cols)
        rows.append([r["name"], p["device_ms"], p["launches"]] +
                    [f"{100 * p['by'].get(k, 0.0) / p['device_ms']:.0f}%" for k in cols] +
                    [f"{100 * other / p['device_ms']:.0f}%"])
    print_table("where pymace's fp32 device time goes (% of the summed step times)",
                ["model", "device ms", "launches", *cols, "rest"], rows)


def compare(before_glob: str, after_glob: str) -> None:
    """Per model, the median over saved runs of fp32/reference for each of two sets of runs (comma-separated
    globs), and the geomeans over the models both sets ran."""
    import glob
    import statistics

    def ratios(pattern):
        out: dict[str, list[float]] = {}
        for path in sorted(p for part in pattern.split(",") for p in glob.glob(part)):
            for r in json.loads(Path(path).read_text()):
                if "ms" in r:
                    out.setdefault(r["name"], []).append(r["ms"]["fp32"] / r["ms"]["reference"])
        return out

    before, after = ratios(before_glob), ratios(after_glob)
    names = [n for n in before if n in after]
    rows = [[n, statistics.median(before[n]), statistics.median(after[n]),
             statistics.median(after[n]) / statistics.median(before[n]),
             " ".join(f"{v:.2f}" for v in before[n]), " ".join(f"{v:.2f}" for v in after[n])] for n in names]
    gb, ga = geomean([r[1] for r in rows]), geomean([r[2] for r in rows])
    rows.append(["geomean", gb, ga, ga / gb, "", ""])
    print_table("fp32 / reference (same process, alternating), median over runs: before vs after",
                ["model", "before", "after", "after/before", "before runs", "after runs"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=DEFAULT_MODELS)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--budget", type=float, default=8.0, help="seconds of timing beyond the minimum repetitions")
    ap.add_argument("--data-types", default="fp32,fp16")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--cache", default=os.environ.get("PYMACE_SWEEP_CACHE", "/work/sweep-cache"))
    ap.add_argument("--storage", default=os.environ.get("PYMACE_STORAGE_DIR", "/tmp/pymace-cpu-sweep"))
    ap.add_argument("--torch-python", default=None)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--peak", type=float, default=None, help="measured peak GFLOP/s (benchmarks/cpu_peak.py)")
    ap.add_argument("--json")
    ap.add_argument("--from-json")
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE_GLOB", "AFTER_GLOB"))
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    if args.one:
        print(PREFIX + json.dumps(one(args.one, args)), flush=True)
        return
    records = json.loads(Path(args.from_json).read_text()) if args.from_json else run_all(args)
    report(records, args.peak)


if __name__ == "__main__":
    main()
