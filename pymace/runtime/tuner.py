"""`pymace tune`: measure the best local work size of every distinct launch of a model's plan on one device.

For each tuning key (kernel + build options + global size) whose local size the op leaves open:
  1. candidates from the kernel's and device's limits (CL_KERNEL_WORK_GROUP_SIZE, max work-item sizes, local
     memory): powers of two and divisors of the global size per dimension, spread over work-group sizes;
  2. the plan runs up to that launch, so its buffers hold real data; the default local size runs first and its
     output is the reference;
  3. every candidate runs into the same buffers (restored before each run) and its output must match the
     default's before it is timed — one that errors or differs is recorded as failed with the reason;
  4. timing with OpenCL profiling events after a warm-up, median of a few runs; a candidate clearly slower than
     the best so far is dropped after two;
  5. the record (best, default, every candidate's result) goes to the tuning file after each launch and on any
     interruption, so a run stopped by its budget or Ctrl-C keeps what it measured and the next run resumes.
The library logs; progress goes to the caller's `progress(done, total, what)`.
"""
from __future__ import annotations

import itertools
import logging
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import KernelLaunchError
from ..ir import pmace_file
from ..ir.graph import Graph
from ..ops.base import Scratch
from . import device as devices
from .device import cl
from .executor import STORAGE, Planner, Step, TensorRef, describe_failure, whole_groups
from .programs import ProgramBuilder
from .tuning_file import TuningFile

log = logging.getLogger(__name__)

MAX_CANDIDATES = 48
REPEATS = 5  # timed runs per candidate (after the warm-up, which is the correctness run)
DROP_AFTER = 2  # timed runs before a candidate may be dropped
DROP_FACTOR = 1.5  # … when its fastest run is this much slower than the best median so far
MAX_PADDING = 1.25  # candidates whose rounded-up global size adds more work than this are not tried
MIN_GAIN = 0.03  # a candidate replaces the default only when it is at least this much faster (beyond noise)
TOLERANCE = {"fp32": 1e-5, "fp16": 1e-3}  # max|err| / max|default output| for a candidate to count as correct


# ---- candidates ----

def _divisors(n: int, cap: int) -> set[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return {d for s in small for d in (s, n // s) if d <= cap}


def padding(gws, lws) -> float:
    """Work-items launched / work-items needed when the global size is rounded up to whole work-groups."""
    return math.prod(whole_groups(gws, lws)) / max(1, math.prod(gws))


def candidates(gws: tuple[int, ...], limit: int, max_item_sizes, default: tuple[int, ...] | None = None,
               most: int = MAX_CANDIDATES) -> list[tuple[int, ...]]:
    """Local sizes worth timing for a launch of global size `gws` whose kernel allows `limit` work-items a group:
    per dimension powers of two (up to the first that covers the dimension) and divisors of the global size;
    combinations within the limits and with little padding, spread over work-group sizes (a few per power of
    two, least padding first, then the widest dimension 0, which coalesces on GPUs and vectorises on PoCL)."""
    per_dim = []
    for d, g in enumerate(gws):
        cap = min(limit, max_item_sizes[d] if d < len(max_item_sizes) else 1, 1 << max(0, g - 1).bit_length())
        powers = {1 << i for i in range(cap.bit_length())}
        per_dim.append(sorted(powers | _divisors(g, cap)))
    combos = [c for c in itertools.product(*per_dim) if math.prod(c) <= limit]
    lean = [c for c in combos if padding(gws, c) <= MAX_PADDING] or combos
    buckets: dict[int, list] = {}
    for c in lean:
        buckets.setdefault(math.prod(c).bit_length(), []).append(c)
    per_bucket = max(2, most // max(1, len(buckets)))
    chosen = [c for size in sorted(buckets)
              for c in sorted(buckets[size], key=lambda c: (padding(gws, c), -c[0], c))[:per_bucket]]
    first = [default] if default else []
    return (first + [c for c in chosen if c != default])[:most]


# ---- the plan, with what each launch touches ----

class _RecordingPlanner(Planner):
    """A Planner that also keeps, per bound step, its launch spec and the activation and scratch buffers it
    reads or writes (the buffers a candidate's run must be checked on and restored in)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bound: list[tuple[object, list]] = []

    def _bind(self, node, spec, buffers) -> Step:
        step = super()._bind(node, spec, buffers)
        touched = {}
        for a in spec.args:
            if (isinstance(a, TensorRef) and a.const is None) or isinstance(a, Scratch):
                buf = self._arg(a, buffers)
                touched[buf.int_ptr] = buf
        self.bound.append((spec, list(touched.values())))
        return step


@dataclass
class _Launch:
    """One distinct tuning key: where it first runs in the plan and what it needs for tuning."""

    key: str
    index: int  # first step with this key
    step: Step
    gws: tuple[int, ...]  # the launch's own global size (the step's is rounded up to whole work-groups)
    buffers: list
    count: int = 1  # steps sharing the key
    limit: int = 0  # CL_KERNEL_WORK_GROUP_SIZE
    candidates: list = field(default_factory=list)


@dataclass
class _Session:
    graph: Graph
    device: object
    queue: object
    steps: list[Step]
    input_buffers: dict
    launches: list[_Launch]
    fixed: int  # launches whose local size the op fixed (not tunable)
    tuning: TuningFile
    data_type: str
    plan: object  # keeps the buffers alive


def _open_session(model, device: str, data_type: str, storage_dir) -> _Session:
    from ..config import default_storage_dir
    from .program_cache import DeviceRecord, ProgramCache

    graph = model if isinstance(model, Graph) else pmace_file.load(str(model))
    info = devices.select(device) if isinstance(device, str) else device
    context = cl.Context([info.cl_device])
    queue = cl.CommandQueue(context, properties=cl.command_queue_properties.PROFILING_ENABLE)
    storage_dir = storage_dir or default_storage_dir(graph.metadata.get("storage_dir"))
    programs = ProgramBuilder(context, info, ProgramCache(storage_dir, DeviceRecord.of(info)))
    planner = _RecordingPlanner(graph, info, context, programs, data_type, None)
    plan = planner.build()
    if programs.stats.from_source:
        programs.save_cache()
    launches: dict[str, _Launch] = {}
    fixed = 0
    for i, (step, (spec, buffers)) in enumerate(zip(plan.steps, planner.bound, strict=True)):
        if spec.lws is not None:
            fixed += 1
        elif step.tuning_key in launches:
            launches[step.tuning_key].count += 1
        else:
            launches[step.tuning_key] = _Launch(step.tuning_key, i, step, spec.gws, buffers)
    tuning = TuningFile.open(storage_dir, info)
    return _Session(graph, info, queue, plan.steps, plan.input_buffers, list(launches.values()), fixed, tuning,
                    data_type, plan)


# ---- running and measuring one launch ----

def _run(queue, launch: _Launch, lws) -> float:
    """One run of the launch's kernel with local size `lws`; its device time in microseconds (profiling event).
    The global size rounds up to whole work-groups, as the planner does."""
    event = cl.enqueue_nd_range_kernel(queue, launch.step.kernel, whole_groups(launch.gws, lws), lws)
    event.wait()
    return (event.profile.end - event.profile.start) * 1e-3


def _read(queue, buffers) -> list[np.ndarray]:
    hosts = [np.empty(b.size, np.uint8) for b in buffers]
    for host, buf in zip(hosts, buffers):
        cl.enqueue_copy(queue, host, buf, is_blocking=False)
    queue.finish()
    return hosts


def _write(queue, buffers, hosts) -> None:
    for host, buf in zip(hosts, buffers):
        cl.enqueue_copy(queue, buf, host, is_blocking=False)
    queue.finish()


def _difference(got: list[np.ndarray], want: list[np.ndarray], dtype, tol: float) -> str | None:
    """Why a candidate's buffers differ from the default's (as floats of the storage type), or None."""
    for g, w in zip(got, want):
        if np.array_equal(g, w):
            continue
        n = len(w) // np.dtype(dtype).itemsize * np.dtype(dtype).itemsize
        gf, wf = g[:n].view(dtype).astype(np.float64), w[:n].view(dtype).astype(np.float64)
        if (np.isnan(gf) != np.isnan(wf)).any():
            return "output differs from the default local size's: NaN where the default has a number"
        finite = np.isfinite(wf) & np.isfinite(gf)
        scale = max(float(np.abs(wf[finite]).max(initial=0.0)), 1e-30)
        err = float(np.abs(gf[finite] - wf[finite]).max(initial=0.0))
        if err > tol * scale or (np.isinf(gf) != np.isinf(wf)).any():
            return f"output differs from the default local size's: max error {err:.3g} (scale {scale:.3g})"
    return None


def _measure(queue, launch: _Launch, lws, before, reference, check, best_us) -> dict:
    """A candidate's entry for the record: time_us, dropped_us or failed. Runs into the launch's own buffers,
    restored to `before` first, and checks them against `reference` (the default local size's result) with
    `check` = (storage dtype, tolerance)."""
    result, buffers = {"lws": list(lws)}, launch.buffers
    try:
        _write(queue, buffers, before)
        _run(queue, launch, lws)  # the warm-up (PoCL compiles a work-group function per local size here)
        wrong = _difference(_read(queue, buffers), reference, *check)
        if wrong:
            return result | {"failed": wrong}
        samples = [_run(queue, launch, lws) for _ in range(DROP_AFTER)]
        if best_us is not None and min(samples) > DROP_FACTOR * best_us:
            return result | {"dropped_us": round(min(samples), 3)}
        samples += [_run(queue, launch, lws) for _ in range(REPEATS - DROP_AFTER)]
    except cl.Error as error:
        return result | {"failed": " ".join(str(error).split())[:300]}
    return result | {"time_us": round(statistics.median(samples), 3)}


def _tune_launch(s: _Session, launch: _Launch, deadline: float, tick) -> None:
    """Measure the launch's candidates and store its record (also when interrupted: `complete` False then). The
    plan's buffers hold the state right before its step, and hold it again afterwards."""
    step, queue, buffers = launch.step, s.queue, launch.buffers
    check = (STORAGE[s.data_type], TOLERANCE[s.data_type])
    old = s.tuning.record(launch.key) or {}
    before = _read(queue, buffers)
    try:
        _run(queue, launch, step.lws)
    except cl.Error as error:  # the plan itself cannot run: nothing to compare with
        failed = {"lws": list(step.lws), "failed": " ".join(str(error).split())[:300]}
        s.tuning.put(launch.key, step.lws, {"default_lws": list(step.lws), "complete": True, "candidates": [failed]})
        return
    reference = _read(queue, buffers)
    results = [_measure(queue, launch, step.lws, before, reference, check, None)]
    results += [c for c in old.get("candidates", []) if tuple(c["lws"]) != step.lws]
    complete = False
    try:
        for lws in launch.candidates:  # tune() left out those an earlier run measured
            if lws == step.lws:
                continue
            if time.perf_counter() > deadline:
                break
            best = _best(results)
            results.append(_measure(queue, launch, lws, before, reference, check, best and best["time_us"]))
            tick(launch)
        else:
            complete = True
    finally:
        _write(queue, buffers, before)
        s.tuning.put(launch.key, (_best(results) or results[0])["lws"], _record(step, results, complete))


def _record(step: Step, results: list[dict], complete: bool) -> dict:
    best, default = _best(results), results[0]
    record = {"default_lws": list(step.lws), "complete": complete, "candidates": results}
    if "time_us" in default:
        record["default_time_us"] = default["time_us"]
    if best:
        record["time_us"] = best["time_us"]
    return record


def _best(results: list[dict]) -> dict | None:
    """The fastest correct candidate; the default (results[0]) unless one beats it by more than noise."""
    timed = [r for r in results if "time_us" in r]
    if not timed:
        return None
    best = min(timed, key=lambda r: r["time_us"])
    default = results[0]
    if "time_us" in default and best["time_us"] > default["time_us"] * (1 - MIN_GAIN):
        return default
    return best


# ---- the driver ----

def tune(model_path_or_graph, device="auto", data_type: str = "fp32", budget: float = 60.0, storage_dir=None,
         progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Tune every distinct launch of the model's plan on `device` within `budget` seconds of measuring (building
    the plan's programs comes first and is not counted) and store the results
    in `<storage_dir>/pymace_tuned_params.json`; launches measured by an earlier run are skipped, a launch it
    left unfinished is continued. Returns a JSON-able summary (see `summary`)."""
    t0 = time.perf_counter()
    s = _open_session(model_path_or_graph, device, data_type, storage_dir)
    deadline = time.perf_counter() + max(0.0, float(budget))  # the budget is for measuring, not for building
    todo = [launch for launch in s.launches if not (s.tuning.record(launch.key) or {}).get("complete")]
    for launch in todo:
        launch.limit = launch.step.kernel.get_work_group_info(cl.kernel_work_group_info.WORK_GROUP_SIZE,
                                                              s.device.cl_device)
        local = launch.step.kernel.get_work_group_info(cl.kernel_work_group_info.LOCAL_MEM_SIZE, s.device.cl_device)
        if local <= s.device.local_mem_size:  # otherwise no local size can launch it: keep the default
            old = s.tuning.record(launch.key) or {}
            tried = {tuple(c["lws"]) for c in old.get("candidates", [])}
            launch.candidates = [c for c in candidates(launch.gws, launch.limit, s.device.max_work_item_sizes,
                                                       launch.step.lws) if c not in tried or c == launch.step.lws]
    total = sum(max(0, len(launch.candidates) - 1) for launch in todo)
    done = 0

    def tick(launch: _Launch) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total, f"{launch.step.kernel_name} {'x'.join(map(str, launch.gws))}")

    tuned_now = []
    try:
        _stage_inputs(s)
        pending = {launch.index: launch for launch in todo if launch.candidates}
        for i, step in enumerate(s.steps):
            if not pending or time.perf_counter() > deadline:
                break
            launch = pending.pop(i, None)
            if launch is not None:
                tuned_now.append(launch.key)
                _tune_launch(s, launch, deadline, tick)
                s.tuning.save()
            try:
                cl.enqueue_nd_range_kernel(s.queue, step.kernel, step.gws, step.lws)
            except cl.Error as error:
                raise KernelLaunchError(f"while tuning, step {i}: {describe_failure(step, error)}") from None
        s.queue.finish()
    finally:
        s.tuning.save()  # also on Ctrl-C: what was measured stays measured
        if progress:
            progress(total, total, "done")
    return summary(s, tuned_now, time.perf_counter() - t0, budget)


def _stage_inputs(s: _Session) -> None:
    """Seeded random inputs: tuning needs real data flowing through the plan, not a particular image."""
    rng = np.random.default_rng(0)
    for buf, shape in s.input_buffers.values():  # fp32 whatever the storage type (run_plan's contract)
        cl.enqueue_copy(s.queue, buf, rng.standard_normal(shape).astype(np.float32))
    s.queue.finish()


def summary(s: _Session, tuned_now: list[str], elapsed: float, budget: float) -> dict:
    """Per launch: default and best local size and time, speedup, candidates tried/failed/dropped; per kernel:
    summed times (weighted by how often the plan launches each key); overall: the estimated speedup of all
    tunable launches together."""
    rows, kernels = [], {}
    for launch in s.launches:
        r = s.tuning.record(launch.key) or {}
        default_us, best_us = r.get("default_time_us"), r.get("time_us")
        cands = r.get("candidates", [])
        rows.append({"key": launch.key, "kernel": f"{launch.step.program}/{launch.step.kernel_name}",
                     "node": launch.step.node.name, "gws": list(launch.gws), "launches": launch.count,
                     "default_lws": list(launch.step.lws), "best_lws": r.get("lws"), "default_us": default_us,
                     "best_us": best_us, "speedup": round(default_us / best_us, 3) if default_us and best_us else None,
                     "tried": len(cands), "failed": sum("failed" in c for c in cands),
                     "dropped": sum("dropped_us" in c for c in cands), "complete": bool(r.get("complete")),
                     "tuned_now": launch.key in tuned_now,
                     "failures": [{"lws": c["lws"], "error": c["failed"]} for c in cands if "failed" in c][:5]})
        if default_us and best_us:
            k = kernels.setdefault(rows[-1]["kernel"], {"keys": 0, "default_us": 0.0, "best_us": 0.0})
            k["keys"] += 1
            k["default_us"] += default_us * launch.count
            k["best_us"] += best_us * launch.count
    for k in kernels.values():
        k["speedup"] = round(k["default_us"] / k["best_us"], 3)
    default_sum = sum(k["default_us"] for k in kernels.values())
    best_sum = sum(k["best_us"] for k in kernels.values())
    complete = sum(row["complete"] for row in rows)
    return {"device": s.device.name, "platform": s.device.platform_name, "data_type": s.data_type,
            "tuning_file": str(s.tuning.path), "budget_s": budget, "elapsed_s": round(elapsed, 3),
            "launches": len(s.launches), "complete": complete, "tuned_now": len(tuned_now),
            "fixed_local_size": s.fixed, "stopped_by_budget": complete < len(s.launches),
            "estimated_speedup": round(default_sum / best_sum, 3) if best_sum else None,
            "kernels": kernels, "rows": rows}


def render_text(result: dict):
    """A rich renderable of `tune`'s summary, for the CLI."""
    from rich.console import Group
    from rich.table import Table

    table = Table(title=f"tuned on {result['device']} ({result['data_type']})")
    for column in ("kernel", "global size", "×", "default lws", "µs", "best lws", "µs ", "speedup", "tried/failed"):
        table.add_column(column, justify="left" if column in ("kernel",) else "right")
    for r in result["rows"]:
        fmt = lambda v: f"{v:.1f}" if isinstance(v, float) else "–"  # noqa: E731
        table.add_row(r["kernel"], "x".join(map(str, r["gws"])), str(r["launches"]),
                      "x".join(map(str, r["default_lws"])), fmt(r["default_us"]),
                      "x".join(map(str, r["best_lws"] or [])) or "–", fmt(r["best_us"]),
                      f"{r['speedup']:.2f}x" if r["speedup"] else "–",
                      f"{r['tried']}/{r['failed']}" + ("" if r["complete"] else " (partial)"))
    speedup = result["estimated_speedup"]
    lines = [f"{result['complete']} of {result['launches']} launches tuned ({result['tuned_now']} this run, "
             f"{result['elapsed_s']:.1f} s of a {result['budget_s']:g} s budget); "
             f"{result['fixed_local_size']} launches have a local size their op fixes",
             f"estimated speedup of the tunable launches: {speedup:.2f}x" if speedup else "nothing measured yet",
             f"stored in {result['tuning_file']}"]
    if result["stopped_by_budget"]:
        lines.append("the budget ran out: run `pymace tune` again to continue where this run stopped")
    return Group(table, *lines)


__all__ = ["tune", "candidates", "render_text", "summary", "padding"]
