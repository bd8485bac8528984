"""`pymace benchmark`: what a model costs on a device — init cold and warm, first inference, steady latency, a
per-op profile from OpenCL profiling events, device memory, and what the program cache did.

Init is measured in fresh processes (`python -m pymace.tools.benchmark --init-only …`), because an init in a
process that already built programs, loaded the driver or warmed the allocator is not what a user's app sees.
Cold: an empty storage dir and every cache below pymace's off; warm: the same dir, now holding the cache.
Every key of the result is documented in docs/benchmark.md."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import PymaceError
from .progress import QUIET

COST_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul", "SeparableConv")  # ops whose cost is MACs, not elements


def benchmark(model_path, device: str = "auto", data_type: str = "fp32", runs: int = 50, warmup: int = 5,
              storage_dir: str | None = None, cold_processes: int = 1, *, feeds: dict | None = None,
              input_desc: dict | None = None, duration: float | None = None, progress=QUIET) -> dict:
    """Measure `model_path` on `device`; a JSON-able dict (docs/benchmark.md). `feeds`: the inputs (default:
    seeded uniform(-1, 1)); `duration`: time runs until that many seconds have passed (at least `runs`)."""
    from .. import Engine
    from ..ir import pmace_file

    if runs < 1 or warmup < 0 or cold_processes < 1 or (duration is not None and duration <= 0):
        raise PymaceError("benchmark needs runs >= 1, warmup >= 0, cold_processes >= 1 and duration > 0")
    graph = pmace_file.load(str(model_path))
    if feeds is None:
        feeds = random_feeds(graph)
        input_desc = {"kind": "random", "seed": 0, "distribution": "uniform(-1, 1)"}
    init = measure_init(model_path, device, data_type, cold_processes, progress)
    engine = Engine(graph, device=device, data_type=data_type, storage_dir=storage_dir)
    latency = _latency(engine, feeds, runs, warmup, duration, progress)
    profiled = Engine(graph, device=device, data_type=data_type, storage_dir=storage_dir, profile=True)
    profile = _profile(profiled, feeds, runs=max(1, min(runs, 10)), progress=progress)
    steps = engine.plan.steps
    return {
        "model": model_summary(graph, model_path),
        "device": _device_facts(engine.device),
        "data_type": data_type, "runs": latency["runs"], "warmup": warmup, "duration_s": duration,
        "input": input_desc,
        "init": init,
        "latency_ms": latency,
        "throughput_per_s": round(1e3 / latency["mean"], 3) if latency["mean"] > 0 else None,
        "profile": profile,
        "memory": engine.memory.as_dict(),
        "programs": {k: engine.init_stats.get(k) for k in
                     ("programs_from_cache", "programs_from_source", "build_seconds", "load_seconds",
                      "cache_misses", "cache_file", "cache_warning")},
        "tuning": {"tuned_nodes": len({id(s.node) for s in steps if s.tuned}),
                   "kernel_nodes": len({id(s.node) for s in steps}),
                   "tuned_steps": sum(s.tuned for s in steps), "steps": len(steps)},
    }


def random_feeds(graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs of the model's shapes (a model with dynamic dims: the example shapes its conversion checked)."""
    from ..ir.symbolic import example_shapes

    rng, shapes = np.random.default_rng(seed), example_shapes(graph, complete=True)
    return {n: rng.uniform(-1, 1, shapes[n]).astype(graph.tensors[n].dtype) for n in graph.inputs}


# --- init in fresh processes ---------------------------------------------------------------------------------
def measure_init(model_path, device: str, data_type: str, processes: int = 1, progress=QUIET) -> dict:
    """Cold and warm init, each the median over `processes` pairs (every pair in its own empty storage dir)."""
    from ..runtime.driver_caches import no_other_caches_env

    env = {**os.environ, **no_other_caches_env()}
    cold, warm = [], []
    advance = progress.task("init cold and warm, in fresh processes", 2 * processes)
    for _ in range(processes):
        with tempfile.TemporaryDirectory(prefix="pymace-bench-") as storage:
            cold.append(_child(model_path, device, data_type, storage, env))
            advance()
            warm.append(_child(model_path, device, data_type, storage, env))
            advance()
    result = {"processes": processes, "cold": _median_run(cold), "warm": _median_run(warm)}
    c, w = result["cold"]["init_seconds"], result["warm"]["init_seconds"]
    result["speedup"] = round(c / w, 3) if w > 0 else None
    result["saved_seconds"] = round(c - w, 4)
    return result


def _child(model_path, device, data_type, storage, env) -> dict:
    cmd = [sys.executable, "-m", "pymace.tools.benchmark", "--init-only", str(model_path), "--device", device,
           "--data-type", data_type, "--storage-dir", storage]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise PymaceError(f"the init measurement process failed: {why}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median_run(rows: list[dict]) -> dict:
    """The run with the median init time (a real run, so its counts and reasons belong together)."""
    ordered = sorted(rows, key=lambda r: r["init_seconds"])
    return dict(ordered[(len(ordered) - 1) // 2], samples=[r["init_seconds"] for r in rows])


def init_once(model_path, device: str, data_type: str, storage_dir: str) -> dict:
    """One init and first inference, in this (fresh) process: what `--init-only` prints."""
    t0 = time.perf_counter()
    from .. import Engine

    t1 = time.perf_counter()
    engine = Engine(model_path, device=device, data_type=data_type, storage_dir=storage_dir)
    t2 = time.perf_counter()
    engine.run(random_feeds(engine.graph))
    t3 = time.perf_counter()
    stats = engine.init_stats
    return {"import_seconds": round(t1 - t0, 4), "init_seconds": round(t2 - t1, 4),
            "first_inference_seconds": round(t3 - t2, 4),
            **{k: stats.get(k) for k in ("programs_from_cache", "programs_from_source", "build_seconds",
                                         "load_seconds", "plan_seconds", "cache_misses", "cache_warning")}}


# --- steady state --------------------------------------------------------------------------------------------
def _latency(engine, feeds, runs: int, warmup: int, duration: float | None = None, progress=QUIET) -> dict:
    for _ in range(warmup):
        engine.run(feeds)
    samples = []
    advance = progress.task(f"{runs} timed runs" if duration is None else f"timed runs for {duration:g} s",
                            runs if duration is None else None)
    start = time.perf_counter()
    while len(samples) < runs or (duration is not None and time.perf_counter() - start < duration):
        t = time.perf_counter()
        engine.run(feeds)
        samples.append((time.perf_counter() - t) * 1e3)
        advance()
    p = np.percentile(samples, [50, 90, 99])
    return {"runs": len(samples), "min": round(min(samples), 4), "p50": round(float(p[0]), 4),
            "p90": round(float(p[1]), 4), "p99": round(float(p[2]), 4), "max": round(max(samples), 4),
            "mean": round(statistics.fmean(samples), 4), "stdev": round(statistics.pstdev(samples), 4),
            "samples": [round(s, 4) for s in samples]}


def _profile(engine, feeds, runs: int, top: int = 10, progress=QUIET) -> dict:
    """Device time per node (median over `runs` profiled runs, its kernels summed), with GFLOP/s and GB/s; and
    per launch, in order (`steps`: what --trace and --csv export)."""
    advance = progress.task("profiled runs (OpenCL events)", runs + 1)
    engine.run_profiled(feeds)  # warm-up: lazy drivers finish building at the first enqueue
    advance()
    per_run = []
    for _ in range(runs):
        per_run.append(engine.run_profiled(feeds)[1])
        advance()
    step_s = np.median(np.array(per_run, dtype=np.float64), axis=0)
    itemsize = np.dtype(engine.storage).itemsize
    nodes: dict[int, dict] = {}
    steps = []
    for step, seconds in zip(engine.plan.steps, step_s):
        steps.append({"node": step.node.name, "op_type": step.node.op_type, "kernel": step.kernel_name,
                      "time_ms": round(float(seconds) * 1e3, 6)})
        row = nodes.get(id(step.node))
        if row is None:
            flops, nbytes = node_cost(engine.graph, step.node, itemsize)
            row = nodes[id(step.node)] = {"node": step.node.name, "op_type": step.node.op_type, "kernels": [],
                                          "time_ms": 0.0, "flops": flops, "bytes": nbytes, "tuned": False}
        row["kernels"].append(step.kernel_name)
        row["time_ms"] += float(seconds) * 1e3
        row["tuned"] = row["tuned"] or step.tuned
    total = sum(r["time_ms"] for r in nodes.values())
    for r in nodes.values():
        seconds = r["time_ms"] / 1e3
        r["gflops"] = round(r["flops"] / seconds / 1e9, 3) if seconds > 0 else None
        r["gbps"] = round(r["bytes"] / seconds / 1e9, 3) if seconds > 0 else None
        r["percent"] = round(100 * r["time_ms"] / total, 2) if total > 0 else 0.0
        r["time_ms"] = round(r["time_ms"], 5)
    rows = sorted(nodes.values(), key=lambda r: -r["time_ms"])
    return {"profiled_runs": runs, "device_ms": round(total, 4), "nodes": rows, "top": rows[:top],
            "by_op_type": _by_op_type(rows, total), "steps": steps}


def _by_op_type(rows: list[dict], total: float) -> list[dict]:
    groups: dict[str, dict] = {}
    for r in rows:
        g = groups.setdefault(r["op_type"], {"op_type": r["op_type"], "nodes": 0, "time_ms": 0.0, "flops": 0})
        g["nodes"] += 1
        g["time_ms"] += r["time_ms"]
        g["flops"] += r["flops"]
    for g in groups.values():
        g["percent"] = round(100 * g["time_ms"] / total, 2) if total > 0 else 0.0
        g["time_ms"] = round(g["time_ms"], 4)
    return sorted(groups.values(), key=lambda g: -g["time_ms"])


# --- cost model ----------------------------------------------------------------------------------------------
def node_macs(graph, node) -> int:
    """Multiply-accumulates of a Conv / ConvTranspose / Gemm / MatMul / SeparableConv node (0 for any other op)."""
    shape = {n: graph.tensors[n].shape for n in (*node.inputs, *node.outputs) if n}
    out = int(np.prod(shape[node.outputs[0]]))
    if node.op_type == "Conv":  # each output element: (C_in / group) · kh · kw products
        return out * int(np.prod(shape[node.inputs[1]][1:]))
    if node.op_type == "ConvTranspose":  # each input element scatters into (C_out / group) · kh · kw outputs
        w = shape[node.inputs[1]]
        return int(np.prod(shape[node.inputs[0]])) * int(np.prod(w[1:]))
    if node.op_type == "SeparableConv":  # depthwise (taps products per element of C maps), then 1x1 (C a output)
        n, c = shape[node.inputs[0]][:2]
        pixels = int(np.prod(shape[node.outputs[0]][2:]))
        return n * c * pixels * int(np.prod(shape[node.inputs[1]][2:])) + out * c
    if node.op_type == "Gemm":
        a = shape[node.inputs[0]]
        return out * int(a[0] if node.attrs.get("transA") else a[-1])
    if node.op_type == "MatMul":  # K: the last dim of A, or of the view it is read through (a_view)
        view = node.attrs.get("a_view")
        return out * int(view["shape"][-1] if view else shape[node.inputs[0]][-1])
    return 0


def node_cost(graph, node, itemsize: int) -> tuple[int, int]:
    """(FLOPs, bytes moved) of one node: MACs × 2 for conv/gemm, else one op per output element (a reduction or
    pool: one per input element); bytes = inputs (weights included) + outputs in the storage type."""
    sizes = [int(np.prod(graph.tensors[n].shape)) for n in node.inputs if n]
    out = sum(int(np.prod(graph.tensors[n].shape)) for n in node.outputs)
    if node.op_type in COST_OPS:
        flops = 2 * node_macs(graph, node)
    elif node.op_type in ("AveragePool", "MaxPool"):
        flops = out * int(np.prod(node.attrs.get("kernel_shape") or [1]))
    elif node.op_type in ("GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "Softmax"):
        flops = sizes[0] if sizes else out
    else:
        flops = out
    return flops, (sum(sizes) + out) * itemsize


def model_summary(graph, model_path=None) -> dict:
    meta = graph.metadata
    return {"path": str(model_path) if model_path is not None else None, "name": meta.get("zoo_name") or graph.name,
            "framework": meta.get("framework"), "source_file": meta.get("source_file"),
            "source_sha256": meta.get("source_sha256"),
            "model_sha256": _sha256(model_path) if model_path is not None else None,
            "nodes": len(graph.nodes),
            "params": int(sum(t.data.size for t in graph.tensors.values() if t.is_const and t.dtype.startswith("f"))),
            "macs": int(sum(node_macs(graph, n) for n in graph.nodes if n.op_type in COST_OPS)),
            "inputs": {n: list(graph.tensors[n].shape) for n in graph.inputs},
            "outputs": {n: list(graph.tensors[n].shape) for n in graph.outputs}}


def _sha256(path) -> str | None:
    from .zoo import sha256_file

    try:
        return sha256_file(path)
    except OSError:
        return None


def _device_facts(device) -> dict:
    keys = ("name", "vendor", "driver_version", "platform_name", "platform_version", "version", "opencl_c_version",
            "is_gpu", "compute_units", "global_mem_size", "fp16", "selector")
    facts = device.as_dict()
    return {k: facts[k] for k in keys}


# --- text for the CLI ----------------------------------------------------------------------------------------
def render_text(result: dict):
    """rich renderables for `pymace benchmark` (benchmark_text.py)."""
    from .benchmark_text import render

    return render(result)


def main(argv=None) -> int:
    """`python -m pymace.tools.benchmark --init-only MODEL …`: one init in this fresh process, as JSON."""
    ap = argparse.ArgumentParser(prog="python -m pymace.tools.benchmark")
    ap.add_argument("model")
    ap.add_argument("--init-only", action="store_true", required=True)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data-type", default="fp32")
    ap.add_argument("--storage-dir", required=True)
    a = ap.parse_args(argv)
    print(json.dumps(init_once(Path(a.model), a.device, a.data_type, a.storage_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
