"""What both tuning phases share: the bench (model, session, profiling queue, the host's enqueue cost), the check
that a candidate's output matches the default's, and the choice of the best candidate (cheapest correct one,
confirmed side by side with the default)."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from ...ir import pmace_file
from ...ir.graph import Graph
from ..cl_kernel import Kernel
from ..device import cl
from ..enqueue import Enqueuer
from ..session import Session, storage_dir_for
from ..tuning_file import TuningFile
from ..tuning_records import Candidate

REPEATS = 5  # timed runs per candidate (after the warm-up, which is the correctness run); the fastest counts:
# noise only adds time, and on PoCL one launch alone runs either on all worker threads or on fewer (its times
# fall in two groups ~2x apart, whatever the local size), so a median of 5 compared coin flips
DROP_AFTER = 2  # timed runs before a candidate may be dropped
DROP_FACTOR = 1.5  # … when its fastest run is this much slower than the best so far
CONFIRM_ROUNDS = 2  # the default and the best candidate timed again, alternately, before the best replaces it
MIN_GAIN = 0.03  # a candidate replaces the default only when it is at least this much faster (beyond noise)


@dataclass
class Bench:
    """The model, the runtime session (device, context, programs, tuning file) and one profiling queue."""

    graph: Graph
    session: Session
    queue: object
    data_type: str
    launch_us: float = 0.0  # the host's cost of one enqueue on this device (see enqueue_cost_us)

    @property
    def device(self):
        return self.session.device

    @property
    def tuning(self) -> TuningFile:
        return self.session.tuning


def open_bench(model, device, data_type: str, storage_dir) -> Bench:
    """`model`: a .pmace path or a Graph; `device`: a selector or a DeviceInfo."""
    graph = model if isinstance(model, Graph) else pmace_file.load(str(model))
    session = Session.open(device, storage_dir_for(graph, storage_dir), profile=True)
    bench = Bench(graph, session, session.queue(), data_type)
    bench.launch_us = enqueue_cost_us(bench)
    return bench


def enqueue_cost_us(b: Bench, count: int = 400) -> float:
    """Host microseconds per enqueue through the engine's own enqueue path, from back-to-back launches of an
    empty kernel. A variant that adds a launch (a K split's reduction) costs this much more at batch 1 whenever
    the host, not the device, sets the pace (NVIDIA's OpenCL: ~8 µs a launch)."""
    options = ("-DFP16_STORAGE",) if b.data_type == "fp16" else ()
    program = b.session.uncached_programs.get("storage", (*options, "-DKERNEL_to_float"))
    kernel = Kernel(program, "to_float")
    dummy = cl.Buffer(b.session.context, cl.mem_flags.READ_WRITE, 16)
    for k, value in enumerate((dummy, dummy, np.int32(0))):
        kernel.set_arg(k, value)
    enqueue = Enqueuer(b.queue, [SimpleNamespace(kernel=kernel, gws=(1,), lws=(1,))] * count)
    enqueue()  # warm-up
    b.queue.finish()
    t = time.perf_counter()
    enqueue()
    elapsed = time.perf_counter() - t
    b.queue.finish()
    return round(elapsed / count * 1e6, 3)


def difference(got: list[np.ndarray], want: list[np.ndarray], dtype, tol: float,
               what: str = "local size") -> str | None:
    """Why a candidate's buffers differ from the default `what`'s (as floats of `dtype`), or None."""
    for g, w in zip(got, want):
        if np.array_equal(g, w):
            continue
        n = len(w) // np.dtype(dtype).itemsize * np.dtype(dtype).itemsize
        gf, wf = g[:n].view(dtype).astype(np.float64), w[:n].view(dtype).astype(np.float64)
        if (np.isnan(gf) != np.isnan(wf)).any():
            return f"output differs from the default {what}'s: NaN where the default has a number"
        finite = np.isfinite(wf) & np.isfinite(gf)
        scale = max(float(np.abs(wf[finite]).max(initial=0.0)), 1e-30)
        err = float(np.abs(gf[finite] - wf[finite]).max(initial=0.0))
        if err > tol * scale or (np.isinf(gf) != np.isinf(wf)).any():
            return f"output differs from the default {what}'s: max error {err:.3g} (scale {scale:.3g})"
    return None


def error_text(error: Exception) -> str:
    """An error as a candidate's `failed` text: one line, at most 300 characters."""
    return " ".join(str(error).split())[:300]


def best(results: list[Candidate], launch_us: float = 0.0) -> Candidate | None:
    """The cheapest correct candidate; the default (results[0]) unless one beats it by more than noise."""
    timed = [r for r in results if r.time_us is not None]
    if not timed:
        return None
    found = min(timed, key=lambda r: r.cost(launch_us))
    default = results[0]
    if default.time_us is not None and found.cost(launch_us) > default.cost(launch_us) * (1 - MIN_GAIN):
        return default
    return found


def confirm(results: list[Candidate], retime: Callable[[Candidate], float | None],
            launch_us: float = 0.0) -> Candidate | None:
    """The candidate to store: the best one only if it still beats the default (results[0]) when both are timed
    again, alternately, CONFIRM_ROUNDS times — their times become the fastest of these runs — so that a
    candidate timed while the device happened to be faster (GPU clocks, PoCL's worker threads, a shared machine)
    does not win on that alone; the default otherwise. None when nothing was timed. `retime(candidate)` → µs, or
    None when it cannot be timed again (the choice then rests on the first measurements)."""
    found, default = best(results, launch_us), results[0]
    if found is None or found is default or default.time_us is None:
        return found
    times: dict[int, list[float]] = {id(default): [], id(found): []}
    for _ in range(CONFIRM_ROUNDS):
        for r in (default, found):
            t = retime(r)
            if t is None:
                return found
            times[id(r)].append(t)
    for r in (default, found):
        r.time_us = round(min(times[id(r)]), 3)
    return best([default, found], launch_us)


__all__ = ["Bench", "open_bench", "difference", "best", "confirm", "REPEATS", "DROP_AFTER", "DROP_FACTOR",
           "CONFIRM_ROUNDS", "MIN_GAIN"]
