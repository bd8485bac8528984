"""`pymace tune`: measure the best variant of every node whose op offers several, then the best local work size of
every distinct launch of the resulting plan, on one device.

Variants first (a node's kernel, tile shape, K split…: ops/base.py LaunchContext.choose), per distinct choice key
(shapes and geometry): the node runs alone, planned once per candidate, on seeded random inputs; each candidate's
outputs must match the op's default variant's within the op tests' bars (1e-4 fp32, 1e-2 fp16 — a variant sums
in another order) before its launches are timed (profiling events, summed over the node's launches); the cheapest
correct one is stored, cost being device time plus launches × the host's measured enqueue cost. The programs of
candidates are built outside the program cache, which keeps only what the final plan uses.

Then for each tuning key (kernel + build options + global size) whose local size the op leaves open:
  1. candidates from the kernel's and device's limits (CL_KERNEL_WORK_GROUP_SIZE, max work-item sizes, local
     memory): powers of two and divisors of the global size per dimension, spread over work-group sizes;
  2. the plan runs up to that launch, so its buffers hold real data; the default local size runs first and its
     output is the reference;
  3. every candidate runs into the same buffers (restored before each run) and its output must match the
     default's before it is timed — one that errors or differs is recorded as failed with the reason;
  4. timing with OpenCL profiling events after a warm-up, the fastest of a few runs; a candidate clearly slower than
     the best so far is dropped after two;
  5. the record (best, default, every candidate's result) goes to the tuning file after each launch and on any
     interruption, so a run stopped by its budget or Ctrl-C keeps what it measured and the next run resumes.
The library logs; progress goes to the caller's `progress(done, total, what)`.
"""
from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import KernelLaunchError, PymaceError
from ..ir import pmace_file
from ..ir.graph import Graph, Node
from .bind import Step
from .device import cl
from .executor import describe_failure, enqueue_all, run_plan
from .plan import STORAGE, make_plan, whole_groups
from .session import Session, storage_dir_for
from .tuning_file import TuningFile

log = logging.getLogger(__name__)

MAX_CANDIDATES = 48
REPEATS = 5  # timed runs per candidate (after the warm-up, which is the correctness run); the fastest counts:
# noise only adds time, and on PoCL one launch alone runs either on all worker threads or on fewer (its times
# fall in two groups ~2x apart, whatever the local size), so a median of 5 compared coin flips
DROP_AFTER = 2  # timed runs before a candidate may be dropped
DROP_FACTOR = 1.5  # … when its fastest run is this much slower than the best so far
MAX_PADDING = 1.25  # candidates whose rounded-up global size adds more work than this are not tried
CONFIRM_ROUNDS = 2  # the default and the best candidate timed again, alternately, before the best replaces it
MIN_GAIN = 0.03  # a candidate replaces the default only when it is at least this much faster (beyond noise)
TOLERANCE = {"fp32": 1e-5, "fp16": 1e-3}  # max|err| / max|default output| for a candidate to count as correct
VARIANT_TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2}  # … for a variant (another summation order): the op tests' bars


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
class _Base:
    """What both phases share: the model, the runtime session (device, context, programs, tuning file), one
    profiling queue."""

    graph: Graph
    session: Session
    queue: object
    data_type: str
    launch_us: float = 0.0  # the host's cost of one enqueue on this device (see _enqueue_cost_us)

    @property
    def device(self):
        return self.session.device

    @property
    def context(self):
        return self.session.context

    @property
    def tuning(self) -> TuningFile:
        return self.session.tuning


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


def _open(model, device, data_type: str, storage_dir) -> _Base:
    graph = model if isinstance(model, Graph) else pmace_file.load(str(model))
    session = Session.open(device, storage_dir_for(graph, storage_dir), profile=True)
    base = _Base(graph, session, session.queue(), data_type)
    base.launch_us = _enqueue_cost_us(base)
    return base


def _enqueue_cost_us(b: _Base, count: int = 400) -> float:
    """Host microseconds per enqueue through the engine's own enqueue path, from back-to-back launches of an
    empty kernel. A variant that adds a launch (a K split's reduction) costs this much more at batch 1 whenever
    the host, not the device, sets the pace (NVIDIA's OpenCL: ~8 µs a launch)."""
    from types import SimpleNamespace

    from .enqueue import Enqueuer

    options = ("-DFP16_STORAGE",) if b.data_type == "fp16" else ()
    kernel = cl.Kernel(b.session.uncached_programs.get("storage", (*options, "-DKERNEL_to_float")), "to_float")
    dummy = cl.Buffer(b.context, cl.mem_flags.READ_WRITE, 16)
    kernel.set_args(dummy, dummy, np.int32(0))
    enqueue = Enqueuer(b.queue, [SimpleNamespace(kernel=kernel, gws=(1,), lws=(1,))] * count)
    enqueue()  # warm-up
    b.queue.finish()
    t = time.perf_counter()
    enqueue()
    elapsed = time.perf_counter() - t
    b.queue.finish()
    return round(elapsed / count * 1e6, 3)


def _open_session(b: _Base, choices: dict) -> _Session:
    """The model's plan with its tuned variants and default local sizes, and its distinct tunable launches."""
    graph, queue, data_type = b.graph, b.queue, b.data_type
    tuned = {key: found for key in choices if (found := b.tuning.get_choice(key))}
    plan = b.session.prepare(b.session.plan(graph, data_type, tuned, use_tuning=False)).bind(queue)
    b.session.save_cache()
    launches: dict[str, _Launch] = {}
    fixed = 0
    for i, step in enumerate(plan.steps):
        spec = step.launch.spec
        if spec.lws is not None:
            fixed += 1
        elif step.tuning_key in launches:
            launches[step.tuning_key].count += 1
        else:
            launches[step.tuning_key] = _Launch(step.tuning_key, i, step, spec.gws, list(step.touches))
    return _Session(graph, b.device, queue, plan.steps, plan.input_buffers, list(launches.values()), fixed,
                    b.tuning, data_type, plan)


def _choices(b: _Base, graph: Graph) -> tuple[dict, dict]:
    """(choice key → the first node's Choice (what its op offered), choice key → how many nodes share it), for
    every node whose op offers variants."""
    found, counts = {}, {}
    for choice in make_plan(graph, b.session.traits, b.data_type).choices:
        found.setdefault(choice.key, choice)
        counts[choice.key] = counts.get(choice.key, 0) + 1
    return found, counts


# ---- variants: a node alone, planned once per candidate ----

def node_graph(graph: Graph, node: Node) -> Graph:
    """The node alone: its activation inputs are the graph's inputs, its constants stay constants."""
    names = [i for i in node.inputs if i]
    tensors = {n: graph.tensors[n] for n in [*names, *node.outputs]}
    inputs = [n for n in dict.fromkeys(names) if not graph.tensors[n].is_const]
    return Graph(f"{graph.name}: {node.name}", [node], tensors, inputs, list(node.outputs))


def _node_times_us(queue, steps: list[Step], runs: int) -> list[float]:
    """Device time of each of `runs` back-to-back runs of the node's launches (see _runs)."""
    events = [enqueue_all(queue, steps, events=True) for _ in range(runs)]
    queue.finish()
    return [sum(e.profile.end - e.profile.start for e in run) * 1e-3 for run in events]


def _measure_variant(b: _Base, alone: Graph, key: str, choice: dict, programs, feeds, reference, best_cost) -> dict:
    """A candidate variant's entry for the record: time_us (device) and launches, dropped_us or failed (with the
    reason); and its outputs (for the default, the reference of the others). Candidates compare by cost: device
    time plus launches × the host's enqueue cost."""
    result = {"choice": choice}
    try:
        launches = b.session.plan(alone, b.data_type, {key: choice}, use_tuning=False)
        plan = b.session.prepare(launches, programs=programs).bind(b.queue)
        got = run_plan(plan, feeds)  # the warm-up, and the outputs to check
        if reference is not None:  # host outputs are fp32 whatever the storage type
            wrong = _difference([got[n].ravel().view(np.uint8) for n in reference],
                                [want.ravel().view(np.uint8) for want in reference.values()], np.float32,
                                VARIANT_TOLERANCE[b.data_type], "variant")
            if wrong:
                return result | {"failed": wrong}
        steps = [step for step in plan.steps if step.node is alone.nodes[0]]  # not fp16's storage casts
        samples = _node_times_us(b.queue, steps, DROP_AFTER)
        if best_cost is not None and min(samples) + len(steps) * b.launch_us > DROP_FACTOR * best_cost:
            return result | {"dropped_us": round(min(samples), 3)}
        samples += _node_times_us(b.queue, steps, REPEATS - DROP_AFTER)
    except (cl.Error, PymaceError) as error:
        return result | {"failed": " ".join(str(error).split())[:300]}
    return result | {"time_us": round(min(samples), 3), "launches": len(steps), "outputs": got}


def _tune_choice(b: _Base, choice, programs, rng, deadline: float, tick) -> None:
    """Time the choice's candidates on its node alone and store the record (also when interrupted: `complete`
    False then, and the next run measures only the candidates not in it)."""
    alone = node_graph(b.graph, choice.node)
    feeds = {n: rng.standard_normal(alone.tensors[n].shape).astype(np.float32) for n in alone.inputs}
    first = _measure_variant(b, alone, choice.key, choice.default, programs, feeds, None, None)
    reference = first.pop("outputs", None)
    old = [c for c in (b.tuning.record(choice.key) or {}).get("candidates", [])
           if c["choice"] != choice.default and c["choice"] in choice.candidates]
    results = [first, *old]
    complete, confirmed = False, None
    try:
        for candidate in choice.candidates if reference is not None else []:
            if any(r["choice"] == candidate for r in results):
                continue
            if time.perf_counter() > deadline:
                break
            best = _best(results, b.launch_us)
            entry = _measure_variant(b, alone, choice.key, candidate, programs, feeds, reference,
                                     best and cost(best, b.launch_us))
            entry.pop("outputs", None)
            results.append(entry)
            tick(choice)
        else:
            complete = True  # also when the default itself failed: there is nothing to compare with then
        confirmed = _confirm(results, lambda r: _measure_variant(b, alone, choice.key, r["choice"], programs, feeds,
                                                                 None, None).get("time_us"), b.launch_us)
    finally:
        best = confirmed or _best(results, b.launch_us) or first
        record = {"default_choice": choice.default, "complete": complete, "candidates": results,
                  "launch_us": b.launch_us}
        record |= {f: r["time_us"] for f, r in (("default_time_us", first), ("time_us", best)) if "time_us" in r}
        b.tuning.put_choice(choice.key, best["choice"], record)


def _tune_variants(b: _Base, choices: dict, deadline: float, progress) -> list[str]:
    """Time every candidate variant of every choice key not yet complete in the tuning file; store the best.
    Returns the keys measured by this run."""
    def done(c) -> bool:  # complete, and its choice still one this pymace offers (else measured again)
        record = b.tuning.record(c.key) or {}
        return bool(record.get("complete")) and record.get("choice") in c.candidates

    todo = [c for c in choices.values() if not done(c)]
    tried = {c.key: sum(1 for x in (b.tuning.record(c.key) or {}).get("candidates", []) if x["choice"] != c.default)
             for c in todo}
    total = sum(max(0, len(c.candidates) - 1 - tried[c.key]) for c in todo)
    done, measured = 0, []
    programs = b.session.uncached_programs  # outside the cache: only the final plan's programs go there
    rng = np.random.default_rng(0)

    def tick(choice) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total, f"variants of {choice.node.name}")

    try:
        for choice in todo:
            if time.perf_counter() > deadline:
                break
            measured.append(choice.key)
            _tune_choice(b, choice, programs, rng, deadline, tick)
            b.tuning.save()
    finally:
        b.tuning.save()  # also on Ctrl-C: what was measured stays measured
        if progress:
            progress(total, total, "variants done")
    return measured


# ---- running and measuring one launch ----

def _runs(queue, launch: _Launch, lws, runs: int) -> list[float]:
    """`runs` runs of the launch enqueued back to back, then one wait: each one's device time in microseconds.
    Back to back, as in a plan: a device left idle between runs (PoCL's worker threads asleep, a GPU's clocks
    down) times lone launches unlike the same launch in a plan, and not alike for every local size."""
    gws = whole_groups(launch.gws, lws)
    events = [cl.enqueue_nd_range_kernel(queue, launch.step.kernel, gws, lws) for _ in range(runs)]
    queue.finish()
    return [(e.profile.end - e.profile.start) * 1e-3 for e in events]


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


def _difference(got: list[np.ndarray], want: list[np.ndarray], dtype, tol: float,
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


def _measure(queue, launch: _Launch, lws, before, reference, check, best_us) -> dict:
    """A candidate's entry for the record: time_us, dropped_us or failed. Runs into the launch's own buffers,
    restored to `before` first, and checks them against `reference` (the default local size's result) with
    `check` = (storage dtype, tolerance)."""
    result, buffers = {"lws": list(lws)}, launch.buffers
    try:
        _write(queue, buffers, before)
        _runs(queue, launch, lws, 1)  # the warm-up (PoCL compiles a work-group function per local size here)
        wrong = _difference(_read(queue, buffers), reference, *check)
        if wrong:
            return result | {"failed": wrong}
        samples = _runs(queue, launch, lws, DROP_AFTER)
        if best_us is not None and min(samples) > DROP_FACTOR * best_us:
            return result | {"dropped_us": round(min(samples), 3)}
        samples += _runs(queue, launch, lws, REPEATS - DROP_AFTER)
    except cl.Error as error:
        return result | {"failed": " ".join(str(error).split())[:300]}
    return result | {"time_us": round(min(samples), 3)}


def _tune_launch(s: _Session, launch: _Launch, deadline: float, tick) -> None:
    """Measure the launch's candidates and store its record (also when interrupted: `complete` False then). The
    plan's buffers hold the state right before its step, and hold it again afterwards."""
    step, queue, buffers = launch.step, s.queue, launch.buffers
    check = (STORAGE[s.data_type], TOLERANCE[s.data_type])
    old = s.tuning.record(launch.key) or {}
    before = _read(queue, buffers)
    try:
        _runs(queue, launch, step.lws, 1)
    except cl.Error as error:  # the plan itself cannot run: nothing to compare with
        failed = {"lws": list(step.lws), "failed": " ".join(str(error).split())[:300]}
        s.tuning.put(launch.key, step.lws, {"default_lws": list(step.lws), "complete": True, "candidates": [failed]})
        return
    reference = _read(queue, buffers)
    results = [_measure(queue, launch, step.lws, before, reference, check, None)]
    results += [c for c in old.get("candidates", []) if tuple(c["lws"]) != step.lws]
    complete, confirmed = False, None
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
        _write(queue, buffers, before)
        confirmed = _confirm(results, lambda r: _retime(queue, launch, tuple(r["lws"])))
    finally:
        _write(queue, buffers, before)
        chosen = confirmed or _best(results) or results[0]
        s.tuning.put(launch.key, chosen["lws"], _record(step, results, complete, chosen))


def _retime(queue, launch: _Launch, lws) -> float | None:
    try:
        return min(_runs(queue, launch, lws, REPEATS))
    except cl.Error:
        return None


def _record(step: Step, results: list[dict], complete: bool, chosen: dict) -> dict:
    best, default = (chosen if "time_us" in chosen else None), results[0]
    record = {"default_lws": list(step.lws), "complete": complete, "candidates": results}
    if "time_us" in default:
        record["default_time_us"] = default["time_us"]
    if best:
        record["time_us"] = best["time_us"]
    return record


def _confirm(results: list[dict], retime: Callable[[dict], float | None], launch_us: float = 0.0) -> dict | None:
    """The candidate to store: the best one only if it still beats the default (results[0]) when both are timed
    again, alternately, CONFIRM_ROUNDS times — their times become the fastest of these runs — so that a
    candidate timed while the device happened to be faster (GPU clocks, PoCL's worker threads, a shared machine)
    does not win on that alone; the default otherwise. None when nothing was timed. `retime(result)` → µs, or
    None when it cannot be timed again (the choice then rests on the first measurements)."""
    best, default = _best(results, launch_us), results[0]
    if best is None or best is default or "time_us" not in default:
        return best
    times: dict[int, list[float]] = {id(default): [], id(best): []}
    for _ in range(CONFIRM_ROUNDS):
        for r in (default, best):
            t = retime(r)
            if t is None:
                return best
            times[id(r)].append(t)
    for r in (default, best):
        r["time_us"] = round(min(times[id(r)]), 3)
    return _best([default, best], launch_us)


def cost(result: dict, launch_us: float = 0.0) -> float:
    """A timed candidate's cost in µs: device time, plus the host's enqueue cost per launch for variants (a local
    size does not change the launches)."""
    return result["time_us"] + result.get("launches", 0) * launch_us


def _best(results: list[dict], launch_us: float = 0.0) -> dict | None:
    """The cheapest correct candidate; the default (results[0]) unless one beats it by more than noise."""
    timed = [r for r in results if "time_us" in r]
    if not timed:
        return None
    best = min(timed, key=lambda r: cost(r, launch_us))
    default = results[0]
    if "time_us" in default and cost(best, launch_us) > cost(default, launch_us) * (1 - MIN_GAIN):
        return default
    return best


# ---- the driver ----

def tune(model_path_or_graph, device="auto", data_type: str = "fp32", budget: float = 60.0, storage_dir=None,
         progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Tune the variant of every node that offers several, then every distinct launch of the resulting plan, on
    `device` within `budget` seconds (variants: building their programs included; local sizes: measuring only,
    the plan's own programs are built first) and store the results in `<storage_dir>/pymace_tuned_params.json`;
    what an earlier run measured is skipped, what it left unfinished is continued. Returns a JSON-able summary
    (see `summary`)."""
    t0 = time.perf_counter()
    base = _open(model_path_or_graph, device, data_type, storage_dir)
    deadline = time.perf_counter() + max(0.0, float(budget))
    choices = _choices(base, base.graph)
    variants_now = _tune_variants(base, choices[0], deadline, progress)
    t1 = time.perf_counter()
    s = _open_session(base, choices[0])
    deadline += time.perf_counter() - t1  # building the plan's programs is not measuring
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
    return summary(s, tuned_now, time.perf_counter() - t0, budget, choices, variants_now)


def _stage_inputs(s: _Session) -> None:
    """Seeded random inputs: tuning needs real data flowing through the plan, not a particular image."""
    rng = np.random.default_rng(0)
    for buf, shape in s.input_buffers.values():  # fp32 whatever the storage type (run_plan's contract)
        cl.enqueue_copy(s.queue, buf, rng.standard_normal(shape).astype(np.float32))
    s.queue.finish()


def describe_choice(choice: dict | None) -> str:
    """conv_gemm tm=64 tn=32 tk=32 split=4"""
    if not choice:
        return "–"
    return " ".join([choice["variant"], *(f"{k}={v}" for k, v in choice.items() if k != "variant")])


def variant_rows(s: _Session, choices: dict, counts: dict, measured: list[str]) -> list[dict]:
    """Per choice key: the default and the chosen variant with their node times, candidates tried/failed/dropped."""
    rows = []
    for key, c in choices.items():
        r = s.tuning.record(key) or {}
        cands, launch_us = r.get("candidates", []), r.get("launch_us", 0.0)
        costs = {repr(x["choice"]): cost(x, launch_us) for x in cands if "time_us" in x}
        default_us, best_us = costs.get(repr(c.default)), costs.get(repr(r.get("choice")))
        rows.append({"key": key, "node": c.node.name, "op": c.node.op_type, "nodes": counts.get(key, 1),
                     "default": describe_choice(c.default), "best": describe_choice(r.get("choice")),
                     "default_us": default_us, "best_us": best_us,
                     "speedup": round(default_us / best_us, 3) if default_us and best_us else None,
                     "tried": len(cands), "failed": sum("failed" in x for x in cands),
                     "dropped": sum("dropped_us" in x for x in cands), "complete": bool(r.get("complete")),
                     "tuned_now": key in measured,
                     "failures": [{"choice": describe_choice(x["choice"]), "error": x["failed"]}
                                  for x in cands if "failed" in x][:5]})
    return rows


def summary(s: _Session, tuned_now: list[str], elapsed: float, budget: float, choices: tuple = ({}, {}),
            variants_now: list[str] = ()) -> dict:
    """Per variant choice: default and best variant and node time; per launch: default and best local size and
    time, speedup, candidates tried/failed/dropped; per kernel: summed times (weighted by how often the plan
    launches each key); overall: the estimated speedups (variants over their nodes; local sizes over all
    tunable launches together)."""
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
    variants = variant_rows(s, *choices, list(variants_now))
    timed = [v for v in variants if v["default_us"] and v["best_us"]]
    variant_default = sum(v["default_us"] * v["nodes"] for v in timed)
    variant_best = sum(v["best_us"] * v["nodes"] for v in timed)
    variants_complete = sum(v["complete"] for v in variants)
    return {"device": s.device.name, "platform": s.device.platform_name, "data_type": s.data_type,
            "tuning_file": str(s.tuning.path), "budget_s": budget, "elapsed_s": round(elapsed, 3),
            "variant_keys": len(variants), "variants_complete": variants_complete,
            "variants_tuned_now": len(variants_now),
            "variant_speedup": round(variant_default / variant_best, 3) if variant_best else None,
            "launches": len(s.launches), "complete": complete, "tuned_now": len(tuned_now),
            "fixed_local_size": s.fixed,
            "stopped_by_budget": complete < len(s.launches) or variants_complete < len(variants),
            "estimated_speedup": round(default_sum / best_sum, 3) if best_sum else None,
            "kernels": kernels, "rows": rows, "variants": variants}


def render_text(result: dict):
    """A rich renderable of `tune`'s summary, for the CLI."""
    from rich.console import Group
    from rich.table import Table

    fmt = lambda v: f"{v:.1f}" if isinstance(v, float) else "–"  # noqa: E731
    variants = Table(title=f"variants tuned on {result['device']} ({result['data_type']})")
    for column in ("node", "×", "default", "µs", "best", "µs ", "speedup", "tried/failed"):
        variants.add_column(column, justify="left" if column in ("node", "default", "best") else "right")
    for v in result.get("variants", []):
        variants.add_row(v["node"], str(v["nodes"]), v["default"], fmt(v["default_us"]), v["best"], fmt(v["best_us"]),
                         f"{v['speedup']:.2f}x" if v["speedup"] else "–",
                         f"{v['tried']}/{v['failed']}" + ("" if v["complete"] else " (partial)"))
    table = Table(title=f"local sizes tuned on {result['device']} ({result['data_type']})")
    for column in ("kernel", "global size", "×", "default lws", "µs", "best lws", "µs ", "speedup", "tried/failed"):
        table.add_column(column, justify="left" if column in ("kernel",) else "right")
    for r in result["rows"]:
        table.add_row(r["kernel"], "x".join(map(str, r["gws"])), str(r["launches"]),
                      "x".join(map(str, r["default_lws"])), fmt(r["default_us"]),
                      "x".join(map(str, r["best_lws"] or [])) or "–", fmt(r["best_us"]),
                      f"{r['speedup']:.2f}x" if r["speedup"] else "–",
                      f"{r['tried']}/{r['failed']}" + ("" if r["complete"] else " (partial)"))
    speedup, vspeedup = result["estimated_speedup"], result.get("variant_speedup")
    lines = [f"{result.get('variants_complete', 0)} of {result.get('variant_keys', 0)} variant choices tuned "
             f"({result.get('variants_tuned_now', 0)} this run)"
             + (f", estimated speedup of their nodes: {vspeedup:.2f}x" if vspeedup else ""),
             f"{result['complete']} of {result['launches']} launches tuned ({result['tuned_now']} this run, "
             f"{result['elapsed_s']:.1f} s of a {result['budget_s']:g} s budget); "
             f"{result['fixed_local_size']} launches have a local size their op fixes",
             f"estimated speedup of the tunable launches: {speedup:.2f}x" if speedup else "nothing measured yet",
             f"stored in {result['tuning_file']}"]
    if result["stopped_by_budget"]:
        lines.append("the budget ran out: run `pymace tune` again to continue where this run stopped")
    return Group(*([variants] if result.get("variants") else []), table, *lines)


__all__ = ["tune", "candidates", "render_text", "summary", "padding"]
