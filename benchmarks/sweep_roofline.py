"""The physical limits the sweep's latencies are read against: the machine's peak fp32 FMA rate and memory
bandwidth (measured once and cached per device), and each converted graph's work counted from the IR.

Work: Conv, ConvTranspose, Gemm, MatMul and LSTM multiply-accumulates × 2 (every other op counts 0 FLOPs);
traffic: the weights once plus every activation written once and read once (an estimate of the least a
pymace plan moves, not a measurement of what it moves)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

_FMA_KERNEL = """
__kernel void fma_chain(__global float *out, const float a, const float b, const int iters) {
    const float s = (float)get_global_id(0) * 1e-7f;
    float16 x0 = (float16)(s), x1 = x0 + 0.1f, x2 = x0 + 0.2f, x3 = x0 + 0.3f;
    float16 x4 = x0 + 0.4f, x5 = x0 + 0.5f, x6 = x0 + 0.6f, x7 = x0 + 0.7f;
    for (int i = 0; i < iters; ++i) {
        x0 = fma(x0, a, b); x1 = fma(x1, a, b); x2 = fma(x2, a, b); x3 = fma(x3, a, b);
        x4 = fma(x4, a, b); x5 = fma(x5, a, b); x6 = fma(x6, a, b); x7 = fma(x7, a, b);
    }
    float16 t = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;
    out[get_global_id(0)] = t.s0 + t.s1 + t.s2 + t.s3 + t.s4 + t.s5 + t.s6 + t.s7 + t.s8 + t.s9 + t.sa + t.sb
                          + t.sc + t.sd + t.se + t.sf;
}
"""
_COPY_KERNEL = """
__kernel void copy16(__global const float16 *src, __global float16 *dst) {
    dst[get_global_id(0)] = src[get_global_id(0)];
}
"""


def _best_seconds(fn, runs: int = 5) -> float:
    fn()
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def measure_opencl(device_spec: str = "cpu") -> dict:
    """Peak fp32 FMA GFLOP/s (8 independent float16 FMA chains a work-item) and copy bandwidth on the device."""
    from pymace.runtime import device as devices

    cl = devices.cl
    dev = devices.select(device_spec)
    ctx = cl.Context([dev.cl_device])
    queue = cl.CommandQueue(ctx)
    prog = cl.Program(ctx, _FMA_KERNEL + _COPY_KERNEL).build()
    items, iters = 8192 * dev.cl_device.max_compute_units, 2048
    out = cl.Buffer(ctx, cl.mem_flags.WRITE_ONLY, items * 4)
    fma_chain, copy16 = cl.Kernel(prog, "fma_chain"), cl.Kernel(prog, "copy16")

    def fma():
        fma_chain(queue, (items,), None, out, np.float32(0.999), np.float32(1e-4), np.int32(iters))
        queue.finish()

    flops = 2.0 * items * iters * 8 * 16
    n = 64 << 20  # floats: 256 MiB a buffer, far past the caches
    src = cl.Buffer(ctx, cl.mem_flags.READ_WRITE, n * 4)
    dst = cl.Buffer(ctx, cl.mem_flags.READ_WRITE, n * 4)
    cl.enqueue_fill_buffer(queue, src, np.float32(1), 0, n * 4)

    def copy():
        copy16(queue, (n // 16,), None, src, dst)
        queue.finish()

    return {"device": dev.name, "opencl_fma_gflops": flops / _best_seconds(fma) / 1e9,
            "opencl_copy_gbs": 2 * n * 4 / _best_seconds(copy) / 1e9}


def measure_numpy() -> dict:
    """NumPy's (BLAS) sgemm rate and its copy bandwidth: the same machine seen from the host."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2048, 2048), np.float32), rng.standard_normal((2048, 2048), np.float32)
    gemm = 2.0 * 2048 ** 3 / _best_seconds(lambda: a @ b) / 1e9
    src = np.ones(64 << 20, np.float32)
    dst = np.empty_like(src)
    copy = 2 * src.nbytes / _best_seconds(lambda: np.copyto(dst, src)) / 1e9
    return {"numpy_sgemm_gflops": gemm, "numpy_copy_gbs": copy}


def machine(cache: Path, device_spec: str = "cpu", remeasure: bool = False) -> dict:
    """The measured limits, cached in cache/machine.json per device and core count. A peak is the machine's
    property, so a new measurement keeps the higher of each limit; one taken while the load average was at or
    above the core count (other work on the machine) is measured again next time."""
    path = cache / "machine.json"
    key = f"{device_spec}:{os.cpu_count()}"
    known = json.loads(path.read_text()) if path.exists() else {}
    old = known.get(key)
    if old and not remeasure and old.get("load_average", 0) < os.cpu_count():
        return old
    record = {**measure_opencl(device_spec), **measure_numpy(), "cores": os.cpu_count(),
              "measured": time.strftime("%Y-%m-%d %H:%M"), "load_average": os.getloadavg()[0]}
    if old:
        for k in ("opencl_fma_gflops", "opencl_copy_gbs", "numpy_sgemm_gflops", "numpy_copy_gbs"):
            record[k] = max(record[k], old[k])
        record["load_average"] = min(record["load_average"], old.get("load_average", record["load_average"]))
    record["peak_gflops"] = max(record["opencl_fma_gflops"], record["numpy_sgemm_gflops"])
    record["peak_gbs"] = max(record["opencl_copy_gbs"], record["numpy_copy_gbs"])
    known[key] = record
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(known, indent=1))
    return record


def _shape(graph, name: str) -> tuple[int, ...]:
    return tuple(graph.tensors[name].shape or ()) if name in graph.tensors else ()


def node_macs(graph, node) -> int:
    out = _shape(graph, node.outputs[0]) if node.outputs else ()
    if node.op_type == "Conv" and len(node.inputs) > 1:
        w = _shape(graph, node.inputs[1])
        return int(np.prod(out)) * int(np.prod(w[1:])) if w and out else 0
    if node.op_type == "ConvTranspose" and len(node.inputs) > 1:
        w = _shape(graph, node.inputs[1])
        return int(np.prod(_shape(graph, node.inputs[0]))) * int(np.prod(w[1:])) if w else 0
    if node.op_type in ("Gemm", "MatMul"):
        a = _shape(graph, node.inputs[0])
        k = (a[0] if node.attrs.get("transA") else a[-1]) if a else 0
        return int(np.prod(out)) * int(k) if out else 0
    if node.op_type in ("LSTM", "GRU"):
        x, w = _shape(graph, node.inputs[0]), _shape(graph, node.inputs[1])  # W: [dirs, gates*H, input]
        hidden = int(node.attrs.get("hidden_size", w[1] // (4 if node.op_type == "LSTM" else 3) if w else 0))
        return int(x[0] * x[1] * w[0] * w[1] * (w[2] + hidden)) if x and w else 0
    return 0


def graph_work(graph) -> dict:
    """{"flops", "bytes"} of a converted graph (see the module docstring)."""
    flops = 2 * sum(node_macs(graph, n) for n in graph.nodes)
    weights = sum(t.data.nbytes for t in graph.tensors.values() if t.data is not None)
    activations = sum(4 * int(np.prod(_shape(graph, o))) for n in graph.nodes for o in n.outputs if o)
    return {"flops": int(flops), "bytes": int(weights + 2 * activations)}
