"""Tuned vs untuned latency, measured side by side in one run, and what the tuner chose.

    .venv/bin/python benchmarks/tune.py [--device auto] [--budget 60] [--models mobilenet_v2,light_resnet50,blazeface]

For each model: `pymace.runtime.tuner.tune` within the budget (into a fresh storage dir unless --storage-dir),
then two engines on the same device — one with the tuned local sizes, one without — run alternately, so drift
hits both alike; the table gives median latencies, their ratio, the tuner's own estimate (summed kernel
times), and the largest output difference between the two engines. Then the launches where tuning gained most.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import print_table, random_feeds  # noqa: E402
from pymace.engine import Engine  # noqa: E402
from pymace.runtime import tuner  # noqa: E402
from pymace.tools import zoo  # noqa: E402

MODELS = ["mobilenet_v2", "light_resnet50", "blazeface"]
HEADER = ["model", "keys tuned", "steps tuned", "tune s", "untuned ms", "tuned ms", "speedup", "tuner estimate",
          "max rel diff"]


def alternate_medians(engines, feeds, runs: int, warmup: int = 3) -> list[float]:
    """Median latency (ms) of each engine, the engines taking turns every round."""
    for engine in engines:
        for _ in range(warmup):
            engine.run(feeds)
    times = [[] for _ in engines]
    for _ in range(runs):
        for engine, out in zip(engines, times):
            t = time.perf_counter()
            engine.run(feeds)
            out.append((time.perf_counter() - t) * 1e3)
    return [float(np.median(t)) for t in times]


def bench(name: str, args, storage: str) -> tuple[list, list]:
    path = Path(name) if name.endswith(".pmace") else zoo.fetch(name)
    result = tuner.tune(path, device=args.device, data_type=args.data_type, budget=args.budget, storage_dir=storage)
    untuned = Engine(path, device=args.device, data_type=args.data_type, storage_dir=storage, use_tuning=False)
    tuned = Engine(path, device=args.device, data_type=args.data_type, storage_dir=storage)
    feeds = random_feeds(untuned.graph)
    base, fast = alternate_medians([untuned, tuned], feeds, args.runs)
    want, got = untuned.run(feeds), tuned.run(feeds)
    diff = max(float(np.abs(got[k] - want[k]).max() / max(np.abs(want[k]).max(), 1e-12)) for k in want)
    steps = sum(s.tuned for s in tuned.plan.steps)
    row = [name, f"{result['complete']}/{result['launches']}", f"{steps}/{len(tuned.plan.steps)}",
           f"{result['elapsed_s']:.0f}", base, fast, f"{base / fast:.2f}x",
           f"{result['estimated_speedup']:.2f}x" if result["estimated_speedup"] else "–", f"{diff:.1e}"]
    gains = sorted((r for r in result["rows"] if r["speedup"]),
                   key=lambda r: (r["default_us"] - r["best_us"]) * r["launches"], reverse=True)
    chosen = [[name, r["kernel"], "x".join(map(str, r["gws"])), r["launches"], "x".join(map(str, r["default_lws"])),
               "x".join(map(str, r["best_lws"])), r["default_us"], r["best_us"], f"{r['speedup']:.2f}x",
               f"{r['tried']}/{r['failed']}/{r['dropped']}"] for r in gains[:args.top]]
    return row, chosen


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
    rows, chosen = [], []
    for name in args.models.split(","):
        row, picks = bench(name, args, storage)
        print_table("so far", HEADER, [row])
        rows.append(row)
        chosen += picks
    from pymace.runtime.device import select

    device = select(args.device)
    print_table(f"tuned vs untuned on {device.name} ({args.data_type}, median of {args.runs}, budget "
                f"{args.budget:g} s per model)",
                HEADER, rows)
    print_table("what the tuner chose (largest gains first)",
                ["model", "kernel", "global size", "×", "default lws", "tuned lws", "default µs", "tuned µs",
                 "speedup", "tried/failed/dropped"], chosen)


if __name__ == "__main__":
    main()
