"""This machine's physical limits as PoCL and NumPy see them: peak fp32 FMA GFLOP/s and memory bandwidth.

    python benchmarks/cpu_peak.py [--rounds 20]

FMA: one work-item a work-group (PoCL runs the code as written), NCHAINS independent FMA chains of the device's
native float vector (16 floats with AVX-512, 8 with AVX2: one register each; enough in flight to cover the FMA
latency on both pipes), one work-group per core and many more to even the cores out. Bandwidth: a float8 copy of
256 MiB (read + write counted) and NumPy's copyto.
NumPy's sgemm (its BLAS, threads = cores) is the host-side reference. Each figure is the best of `rounds`: on a
shared machine only the best run approaches the limit, and the load average is printed beside it; the FMA rate
per CPU-second (all threads' CPU time) is one core's rate, which the load does not dilute."""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import print_table  # noqa: E402

NCHAINS = 12
FMA_SRC = """
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
typedef CAT(float, VW) vec_t;
__kernel void fma_peak(__global float *out, const float a, const float b, const int iters) {
  vec_t x[NCHAINS];
#pragma unroll
  for (int j = 0; j < NCHAINS; ++j) x[j] = (vec_t)((float)get_global_id(0) * 1e-7f + j);
  for (int i = 0; i < iters; ++i) {
#pragma unroll
    for (int j = 0; j < NCHAINS; ++j) x[j] = fma(x[j], (vec_t)(a), (vec_t)(b));
  }
  vec_t t = x[0];
#pragma unroll
  for (int j = 1; j < NCHAINS; ++j) t += x[j];
  float lanes[VW], sum = 0.0f;
  CAT(vstore, VW)(t, 0, lanes);
  for (int j = 0; j < VW; ++j) sum += lanes[j];
  out[get_global_id(0)] = sum;
}
__kernel void copy8(__global const float8 *src, __global float8 *dst, const int per) {
  const size_t i0 = get_global_id(0) * (size_t)per;
  for (int i = 0; i < per; ++i) dst[i0 + i] = src[i0 + i];
}
"""


def cpu_seconds() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def best_seconds(fn, rounds: int, cpu: list | None = None) -> float:
    """The fastest of `rounds` runs (wall seconds); `cpu` gets the CPU seconds (all threads) of that run."""
    fn()
    best, best_cpu = float("inf"), 0.0
    for _ in range(rounds):
        t, c = time.perf_counter(), cpu_seconds()
        fn()
        wall = time.perf_counter() - t
        if wall < best:
            best, best_cpu = wall, cpu_seconds() - c
    if cpu is not None:
        cpu.append(best_cpu)
    return best


def opencl(rounds: int) -> dict:
    import pyopencl as cl

    from pymace.runtime import device as devices

    dev = devices.select("cpu")
    ctx = cl.Context([dev.cl_device])
    queue = cl.CommandQueue(ctx)
    vw = max(4, min(16, dev.cl_device.native_vector_width_float))  # the device's own vector: 16 with AVX-512
    prog = cl.Program(ctx, FMA_SRC).build(options=f"-DNCHAINS={NCHAINS} -DVW={vw}")
    groups, iters = 64 * dev.cl_device.max_compute_units, 20000
    out = cl.Buffer(ctx, cl.mem_flags.WRITE_ONLY, groups * 4)
    fma, copy = cl.Kernel(prog, "fma_peak"), cl.Kernel(prog, "copy8")

    def run_fma():
        fma(queue, (groups,), (1,), out, np.float32(0.999), np.float32(1e-4), np.int32(iters))
        queue.finish()

    n, per = 64 << 20, 4096  # floats a buffer; float8s a work-item
    src = cl.Buffer(ctx, cl.mem_flags.READ_WRITE, n * 4)
    dst = cl.Buffer(ctx, cl.mem_flags.READ_WRITE, n * 4)
    cl.enqueue_fill_buffer(queue, src, np.float32(1), 0, n * 4)

    def run_copy():
        copy(queue, (n // 8 // per,), (1,), src, dst, np.int32(per))
        queue.finish()

    flops, used = 2.0 * groups * iters * NCHAINS * vw, []
    return {"device": dev.name, "cores": dev.cl_device.max_compute_units, "vector_floats": vw,
            "opencl_fma_gflops": flops / best_seconds(run_fma, rounds, used) / 1e9,
            "opencl_fma_gflops_per_cpu_second": flops / used[0] / 1e9,
            "opencl_copy_gbs": 2 * n * 4 / best_seconds(run_copy, rounds) / 1e9}


def numpy_limits(rounds: int) -> dict:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((1024, 1024), np.float32), rng.standard_normal((1024, 1024), np.float32)
    src = np.ones(64 << 20, np.float32)
    dst = np.empty_like(src)
    return {"numpy_sgemm_gflops": 2.0 * 1024 ** 3 / best_seconds(lambda: a @ b, rounds) / 1e9,
            "numpy_copy_gbs": 2 * src.nbytes / best_seconds(lambda: np.copyto(dst, src), rounds) / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    rec = {**opencl(args.rounds), **numpy_limits(args.rounds)}
    rows = [[k, v] for k, v in rec.items()] + [["load average before / after", f"{load0:.1f} / "
                                                 f"{os.getloadavg()[0]:.1f}"]]
    print_table(f"limits, best of {args.rounds}", ["what", "value"], rows)


if __name__ == "__main__":
    main()
