"""Two sets of kernel sources in one process: each model's engines (fp32 and fp16 storage) are built once from
BEFORE's kernels/ and once from this tree's, then timed in turn (benchmarks/sweep_run.alternate: medians), so a
kernel change is measured under the same load as its baseline. Host code is this tree's for both: a change to
the ops' host files needs benchmarks/cpu_ab.sh (two trees, two processes) instead — or, for a module constant of
pymace.ops, --before-set, which gives "before" this tree's kernels with the constants set while its plans are made.

    git archive main pymace/kernels | tar -x -C /tmp/before
    python benchmarks/kernel_ab.py /tmp/before/pymace/kernels --models light_resnet50,mobilenet_v2 [--profile]
    python benchmarks/kernel_ab.py --before-set conv_cpu.CPU_CVEC_ACC_WIDE=12 --models light_resnet50

Models are the sweep's (benchmarks/sweep_models.py, from --cache) or the zoo's (pymace.tools.zoo). --profile adds
the device time of every kernel (medians of profiled runs), fp32 and fp16, before and after."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import print_table  # noqa: E402


def load(name: str, cache: str):
    """(graph or .pmace path, feeds) of a sweep model or a zoo model."""
    from benchmarks import sweep_fetch, sweep_run
    from benchmarks.sweep_models import catalogue
    from pymace.tools.convert import convert

    models = {m.name: m for m in catalogue()}
    if name not in models:
        from pymace.ir import pmace_file
        from pymace.tools import zoo

        graph = pmace_file.load(str(zoo.fetch(name)))
        rng = np.random.default_rng(0)
        return graph, {n: rng.uniform(-1, 1, graph.tensors[n].shape).astype(np.float32) for n in graph.inputs}
    model = models[name]
    path = str(sweep_fetch.model_file(model, Path(cache), None))
    graph = convert(path, input_shapes=model.shapes or None)
    return graph, sweep_run.random_feeds(graph, model, 0)


def engines(graph, kernel_dir: Path, storage: str, profile: bool, constants: dict | None = None) -> dict:
    """fp32 and fp16 engines whose programs are built from `kernel_dir`, planned with `constants` ({(module,
    name): value} of pymace.ops) set."""
    from pymace import Engine
    from pymace.runtime import programs

    programs.KERNEL_DIR = kernel_dir
    programs.kernel_source.cache_clear()
    programs.source_digest.cache_clear()
    saved = {key: getattr(*key) for key in constants or {}}
    try:
        for (module, name), value in (constants or {}).items():
            setattr(module, name, value)
        return {dt: Engine(graph, device="cpu", data_type=dt, storage_dir=storage, profile=profile)
                for dt in ("fp32", "fp16")}
    finally:
        for (module, name), value in saved.items():
            setattr(module, name, value)


def parse_constants(spec: str) -> dict:
    """"conv_cpu.CPU_CVEC_ACC_WIDE=12,gemm.X=3" -> {(pymace.ops.conv_cpu, "CPU_CVEC_ACC_WIDE"): 12, ...}."""
    import importlib

    out = {}
    for item in filter(None, spec.split(",")):
        target, value = item.split("=")
        module, name = target.rsplit(".", 1)
        mod = importlib.import_module(f"pymace.ops.{module}")
        if not hasattr(mod, name):
            raise SystemExit(f"pymace.ops.{module} has no {name}")
        out[mod, name] = type(getattr(mod, name))(value)
    return out


def kernel_ms(engine, feeds, runs: int) -> dict[str, float]:
    """Median device ms of each kernel name over `runs` profiled runs (summed over its launches)."""
    samples = [engine.run_profiled(feeds)[1] for _ in range(runs)]
    out: dict[str, float] = {}
    for step, t in zip(engine.plan.steps, (statistics.median(c) for c in zip(*samples))):
        out[step.kernel_name] = out.get(step.kernel_name, 0.0) + t * 1e3
    return out


def one(name: str, args) -> list:
    from benchmarks.sweep_run import alternate

    graph, feeds = load(name, args.cache)
    here = Path(__file__).resolve().parent.parent / "pymace" / "kernels"
    dirs = {"before": Path(args.before).resolve() if args.before else here, "after": here}
    constants = {"before": parse_constants(args.before_set), "after": {}}
    built = {t: engines(graph, d, args.storage, False, constants[t]) for t, d in dirs.items()}
    fns = {(t, dt): (lambda e: lambda: e.run(feeds))(e) for t, pair in built.items() for dt, e in pair.items()}
    ms = alternate(fns, args.reps, args.budget)
    if args.profile:  # separate engines: a profiling queue is not the one timed above
        profiled = {t: engines(graph, d, args.storage, True, constants[t]) for t, d in dirs.items()}
        per = {(t, dt): kernel_ms(e, feeds, args.reps) for t, pair in profiled.items() for dt, e in pair.items()}
        report_kernels(name, per)
    b32, b16, a32, a16 = (ms[k] for k in (("before", "fp32"), ("before", "fp16"), ("after", "fp32"),
                                          ("after", "fp16")))
    return [name, b32, b16, b16 / b32, a32, a16, a16 / a32, os.getloadavg()[0]]


def report_kernels(name: str, per: dict) -> None:
    keys = sorted({k for d in per.values() for k in d}, key=lambda k: -per["before", "fp16"].get(k, 0.0))
    rows = [[k] + [per[t, dt].get(k, 0.0) for t in ("before", "after") for dt in ("fp32", "fp16")] for k in keys]
    rows.append(["total"] + [sum(per[t, dt].values()) for t in ("before", "after") for dt in ("fp32", "fp16")])
    print_table(f"{name}: device ms a kernel (medians of profiled runs)",
                ["kernel", "before fp32", "before fp16", "after fp32", "after fp16"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", nargs="?", help="the baseline's kernels/ folder (default: this tree's)")
    ap.add_argument("--before-set", default="", help="module constants of pymace.ops for the baseline's plans, "
                    "e.g. conv_cpu.CPU_CVEC_ACC_WIDE=12")
    ap.add_argument("--models", default="light_resnet50,ppocr_v2_cls,mp_face_detection_short_range,mobilenet_v2")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--budget", type=float, default=5.0, help="seconds of timing beyond the minimum repetitions")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--cache", default=os.environ.get("PYMACE_SWEEP_CACHE", "/work/sweep-cache"))
    ap.add_argument("--storage", default=os.environ.get("PYMACE_STORAGE_DIR", "/tmp/pymace-kernel-ab"))
    args = ap.parse_args()
    rows = [one(name, args) for name in args.models.split(",")]
    print_table("wall ms, same process, alternating, medians: kernels before vs after",
                ["model", "before fp32", "before fp16", "fp16/fp32", "after fp32", "after fp16", "fp16/fp32",
                 "load"], rows)


if __name__ == "__main__":
    main()
