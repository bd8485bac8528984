"""SeparableConv on a GPU: what fusing each depthwise → 1x1 pair into one conv_gemm launch does.

    python benchmarks/separable.py [--device gpu] [--budget 60] [--models mobilenet_v2,blazeface] [--runs 200]

Per model: `pymace tune` (fresh storage dir) measures every variant of every pair — the fused kernel over
conv_gemm's tilings and the two separate launches — and the first table lists, per pair, its geometry and the
device time of the fused kernel with the default tiling, of the best fused tiling, and of the separate launches
(µs, median of 5; the tuner's cost adds launches × its measured host enqueue cost). The second table times whole
models, engines taking turns: the plan as converted (no fusion), every pair fused, the default rule
(separable_conv.FUSE_MAX_WORK), and the tuned plan."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import device_only, print_table, random_feeds  # noqa: E402
from benchmarks.tune import alternate_medians  # noqa: E402
from pymace.engine import Engine  # noqa: E402
from pymace.ir import pmace_file  # noqa: E402
from pymace.ops import separable_conv  # noqa: E402
from pymace.runtime import device as devices  # noqa: E402
from pymace.runtime import tuner  # noqa: E402
from pymace.runtime.plan import make_plan  # noqa: E402
from pymace.runtime.tuning_file import TuningFile  # noqa: E402
from pymace.tools import zoo  # noqa: E402


def text(choice: dict) -> str:
    if choice["variant"] == "conv_gemm":
        return f"fused {choice['tm']}x{choice['tn']} k{choice['tk']} s{choice['split']}"
    return " ".join([choice["variant"], *(f"{k}={v}" for k, v in choice.items() if k != "variant")])


def pair_rows(name, graph, device, storage, data_type) -> list[list]:
    tuning = TuningFile.open(storage, device.identity)
    rows = []
    for choice in make_plan(graph, device.traits, data_type).choices:
        if not choice.key.startswith("SeparableConv"):
            continue
        node, record = choice.node, tuning.record(choice.key)
        times = {repr(c.choice): c.time_us for c in (record.candidates if record else [])}
        fused = next(c for c in choice.candidates if c["variant"] == "conv_gemm")
        separate = next(c for c in choice.candidates if c["variant"] == "separate")
        tilings = [(t, c) for c in choice.candidates if c["variant"] == "conv_gemm"
                   if (t := times.get(repr(c))) is not None]
        best_t, best = min(tilings, key=lambda tc: tc[0]) if tilings else (None, None)
        x, dw, pw = (graph.tensors[node.inputs[i]].shape for i in (0, 1, 3))
        out = graph.tensors[node.outputs[0]].shape
        rows.append([name, node.name[:24], x[1], pw[0], f"{out[2]}x{out[3]}", dw[2] * dw[3],
                     x[1] * dw[2] * dw[3], times.get(repr(fused)), best_t, text(best) if best else "–",
                     times.get(repr(separate)), text(choice.default), text(record.choice) if record else "–"])
    return rows


def engine(path, device, data_type, storage, fuse="rule", use_tuning=False):
    """An engine whose plan fuses by the default rule, every pair ("all"), or none."""
    saved = separable_conv.FUSE_MAX_WORK
    if fuse == "none":
        os.environ["PYMACE_NO_DEVICE_FUSION"] = "1"
    elif fuse == "all":
        separable_conv.FUSE_MAX_WORK = 1 << 30
    try:
        return Engine(path, device=device, data_type=data_type, storage_dir=storage, use_tuning=use_tuning)
    finally:
        os.environ.pop("PYMACE_NO_DEVICE_FUSION", None)
        separable_conv.FUSE_MAX_WORK = saved


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="gpu")
    ap.add_argument("--data-type", default="fp32")
    ap.add_argument("--budget", type=float, default=60)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--models", default="mobilenet_v2,blazeface")
    args = ap.parse_args()
    device = devices.select(args.device)
    pairs, models = [], []
    for name in args.models.split(","):
        path = str(zoo.fetch(name))
        storage = tempfile.mkdtemp(prefix="separable-")
        tuner.tune(path, device=args.device, data_type=args.data_type, budget=args.budget, storage_dir=storage)
        pairs += pair_rows(name, pmace_file.load(path), device, storage, args.data_type)
        plans = {"none": engine(path, args.device, args.data_type, storage, "none"),
                 "all": engine(path, args.device, args.data_type, storage, "all"),
                 "rule": engine(path, args.device, args.data_type, storage, "rule"),
                 "tuned": engine(path, args.device, args.data_type, storage, "rule", use_tuning=True)}
        feeds = random_feeds(plans["none"].graph)
        times = alternate_medians([device_only(e) for e in plans.values()], feeds, args.runs)
        models.append([name, *(f"{t:.3f} ({len(e.plan.steps)})" for t, e in zip(times, plans.values()))])
    print_table(f"depthwise → 1x1 pairs on {device.name} ({args.data_type}): device µs of one pair",
                ["model", "node", "C", "M", "map", "taps", "C×taps", "fused", "best fused", "best tiling",
                 "separate", "default", "tuned"], pairs)
    print_table(f"whole model, device-only median ms (launches), engines alternating, {args.runs} runs",
                ["model", "no fusion", "all fused", f"rule (C×taps ≤ {separable_conv.FUSE_MAX_WORK})", "tuned"],
                models)


if __name__ == "__main__":
    main()
