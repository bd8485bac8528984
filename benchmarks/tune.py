"""Tuned vs untuned latency, measured side by side in one run, and what the tuner chose.

    .venv/bin/python benchmarks/tune.py [--device auto] [--budget 60] [--models mobilenet_v2,light_resnet50,blazeface]

For each model: `pymace.runtime.tuner.tune` within the budget (into a fresh storage dir unless --storage-dir),
then two engines on the same device — one with the tuned variants and local sizes, one without — run
alternately, so drift hits both alike; the table gives median latencies (device-only: inputs already on the
device; and with the copies), their ratio, the tuner's own estimates (summed kernel times of the tuned nodes and
launches), and the largest output difference between the two engines. Then the variants the tuner chose and the
launches where local sizes gained most.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import device_only, print_table, random_feeds  # noqa: E402
from pymace.engine import Engine  # noqa: E402
from pymace.metrics import rel_err  # noqa: E402
from pymace.runtime import tuner  # noqa: E402
from pymace.tools import zoo  # noqa: E402

MODELS = ["mobilenet_v2", "light_resnet50", "blazeface"]
HEADER = ["model", "variants tuned", "keys tuned", "steps tuned", "tune s", "untuned dev ms", "tuned dev ms",
          "speedup dev", "untuned ms", "tuned ms", "speedup", "estimate variants/lws", "max rel diff"]


def alternate_medians(runners, feeds, runs: int, warmup: int = 3) -> list[float]:
    """Median latency (ms) of each runner (a callable taking the feeds), the runners taking turns every round."""
    for run in runners:
        for _ in range(warmup):
            run(feeds)
    times = [[] for _ in runners]
    for _ in range(runs):
        for run, out in zip(runners, times):
            t = time.perf_counter()
            run(feeds)
            out.append((time.perf_counter() - t) * 1e3)
    return [float(np.median(t)) for t in times]


def bench(name: str, args, storage: str) -> tuple[list, list]:
    path = Path(name) if name.endswith(".pmace") else zoo.fetch(name)
    result = tuner.tune(path, device=args.device, data_type=args.data_type, budget=args.budget, storage_dir=storage)
    untuned = Engine(path, device=args.device, data_type=args.data_type, storage_dir=storage, use_tuning=False)
    tuned = Engine(path, device=args.device, data_type=args.data_type, storage_dir=storage)
    feeds = random_feeds(untuned.graph)
    want, got = untuned.run(feeds), tuned.run(feeds)
    base_dev, fast_dev = alternate_medians([device_only(untuned), device_only(tuned)], feeds, args.runs)
    base, fast = alternate_medians([untuned.run, tuned.run], feeds, args.runs)
    diff = max(rel_err(got[k], want[k]) for k in want)
    steps = sum(s.tuned for s in tuned.plan.steps)
    estimate = lambda v: f"{v:.2f}x" if v else "–"  # noqa: E731
    row = [name, f"{result['variants_complete']}/{result['variant_keys']}",
           f"{result['complete']}/{result['launches']}", f"{steps}/{len(tuned.plan.steps)}",
           f"{result['elapsed_s']:.0f}", base_dev, fast_dev,
           f"{base_dev / fast_dev:.2f}x", base, fast, f"{base / fast:.2f}x",
           f"{estimate(result['variant_speedup'])} / {estimate(result['estimated_speedup'])}", f"{diff:.1e}"]
    variants = sorted((v for v in result["variants"] if v["speedup"]),
                      key=lambda v: (v["default_us"] - v["best_us"]) * v["nodes"], reverse=True)
    picked = [[name, v["node"], v["nodes"], v["default"], v["best"], v["default_us"], v["best_us"],
               f"{v['speedup']:.2f}x", f"{v['tried']}/{v['failed']}/{v['dropped']}"] for v in variants[:args.top]]
    gains = sorted((r for r in result["rows"] if r["speedup"]),
                   key=lambda r: (r["default_us"] - r["best_us"]) * r["launches"], reverse=True)
    chosen = [[name, r["kernel"], "x".join(map(str, r["gws"])), r["launches"], "x".join(map(str, r["default_lws"])),
               "x".join(map(str, r["best_lws"])), r["default_us"], r["best_us"], f"{r['speedup']:.2f}x",
               f"{r['tried']}/{r['failed']}/{r['dropped']}"] for r in gains[:args.top]]
    return row, chosen, picked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-type", default="fp32", choices=["fp32", "fp16"])
    parser.add_argument("--budget", type=float, default=60.0, help="tuning seconds per model")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--models", default=",".join(MODELS), help="zoo names or .pmace paths, comma-separated")
    parser.add_argument("--storage-dir", help="default: a fresh temporary dir (tuning from scratch)")
    parser.add_argument("--top", type=int, default=6, help="launches shown per model in the second table")
    args = parser.parse_args()
    storage = args.storage_dir or tempfile.mkdtemp(prefix="pymace-tune-bench-")
    rows, chosen, picked = [], [], []
    for name in args.models.split(","):
        row, picks, variants = bench(name, args, storage)
        print_table("so far", HEADER, [row])
        rows.append(row)
        chosen += picks
        picked += variants
    from pymace.runtime.device import select

    device = select(args.device)
    print_table(f"tuned vs untuned on {device.name} ({args.data_type}, median of {args.runs}, budget "
                f"{args.budget:g} s per model)",
                HEADER, rows)
    print_table("variants the tuner chose (largest gains first; time of one node, µs)",
                ["model", "node", "× nodes", "default", "tuned", "default µs", "tuned µs", "speedup",
                 "tried/failed/dropped"], picked)
    print_table("local sizes the tuner chose (largest gains first)",
                ["model", "kernel", "global size", "×", "default lws", "tuned lws", "default µs", "tuned µs",
                 "speedup", "tried/failed/dropped"], chosen)


if __name__ == "__main__":
    main()
