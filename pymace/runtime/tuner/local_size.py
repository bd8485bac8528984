"""Tuning local sizes: for each tuning key (kernel + build options + integer arguments + global size) whose local
size the op leaves open, in the plan with the tuned variants:
  1. candidates from the kernel's and device's limits (CL_KERNEL_WORK_GROUP_SIZE, max work-item sizes, local
     memory): powers of two and divisors of the global size per dimension, spread over work-group sizes;
  2. the plan runs up to that launch, so its buffers hold real data; the default local size runs first and its
     output is the reference;
  3. every candidate runs into the same buffers (restored before each run) and its output must match the
     default's before it is timed — one that errors or differs is recorded as failed with the reason;
  4. timing with OpenCL profiling events after a warm-up, the fastest of a few runs; a candidate clearly slower than
     the best so far is dropped after two;
  5. the record (best, default, every candidate's result) goes to the tuning file after each launch and on any
     interruption, so a run stopped by its budget or Ctrl-C keeps what it measured and the next run resumes."""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ...errors import KernelLaunchError
from ..bind import BoundPlan, Step
from ..device import cl
from ..executor import describe_failure
from ..plan import STORAGE, whole_groups
from ..tuning_records import Candidate, LocalSizeRecord
from .measure import DROP_AFTER, DROP_FACTOR, REPEATS, Bench, best, confirm, difference, error_text

MAX_CANDIDATES = 48
MAX_PADDING = 1.25  # candidates whose rounded-up global size adds more work than this are not tried
TOLERANCE = {"fp32": 1e-5, "fp16": 1e-3}  # max|err| / max|default output| for a candidate to count as correct


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


@dataclass
class Launch:
    """One distinct tuning key: where it first runs in the plan and what it needs for tuning."""

    key: str
    index: int  # first step with this key
    step: Step
    count: int = 1  # steps sharing the key
    candidates: list = field(default_factory=list)

    @property
    def gws(self) -> tuple[int, ...]:
        """The launch's own global size (the step's is rounded up to whole work-groups)."""
        return self.step.launch.spec.gws

    @property
    def buffers(self) -> list:
        return list(self.step.touches)


@dataclass
class LocalSizes:
    """The model's plan with its tuned variants and default local sizes, and its distinct tunable launches."""

    bench: Bench
    plan: BoundPlan
    launches: list[Launch]
    fixed: int  # launches whose local size the op fixed (not tunable)


def open_local_sizes(b: Bench, choices: dict) -> LocalSizes:
    """The plan (programs through the cache, which keeps them) with the tuning file's variants only."""
    tuned = {key: found for key in choices if (found := b.tuning.get_choice(key))}
    plan = b.session.prepare(b.session.plan(b.graph, b.data_type, tuned, use_tuning=False)).bind(b.queue)
    b.session.save_cache()
    launches: dict[str, Launch] = {}
    fixed = 0
    for i, step in enumerate(plan.steps):
        if step.launch.spec.lws is not None:
            fixed += 1
        elif step.tuning_key in launches:
            launches[step.tuning_key].count += 1
        else:
            launches[step.tuning_key] = Launch(step.tuning_key, i, step)
    return LocalSizes(b, plan, list(launches.values()), fixed)


def _plan_candidates(s: LocalSizes, launch: Launch) -> list[tuple[int, ...]]:
    """What is left to measure for a launch (the default first); none when its kernel's static local memory
    exceeds the device's, since no local size can launch it then."""
    device, kernel = s.bench.device, launch.step.kernel
    limit, local = kernel.work_group_size(device.cl_device), kernel.local_mem_size(device.cl_device)
    if local > device.local_mem_size:
        return []
    old = s.bench.tuning.record(launch.key)
    tried = {c.lws for c in old.candidates} if isinstance(old, LocalSizeRecord) else set()
    default = launch.step.lws
    return [c for c in candidates(launch.gws, limit, device.max_work_item_sizes, default)
            if c not in tried or c == default]


def tune_local_sizes(s: LocalSizes, deadline: float, progress) -> list[str]:
    """Measure every launch not yet complete in the tuning file, in plan order (the plan runs up to each one, so
    its buffers hold real data); store each record as it is made. Returns the keys measured by this run."""
    tuning = s.bench.tuning
    todo = [launch for launch in s.launches
            if not (isinstance(r := tuning.record(launch.key), LocalSizeRecord) and r.complete)]
    for launch in todo:
        launch.candidates = _plan_candidates(s, launch)
    total, done, measured = sum(max(0, len(launch.candidates) - 1) for launch in todo), 0, []

    def tick(launch: Launch) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total, f"{launch.step.kernel_name} {'x'.join(map(str, launch.gws))}")

    queue = s.bench.queue
    try:
        _stage_inputs(s)
        pending = {launch.index: launch for launch in todo if launch.candidates}
        for i, step in enumerate(s.plan.steps):
            if not pending or time.perf_counter() > deadline:
                break
            launch = pending.pop(i, None)
            if launch is not None:
                measured.append(launch.key)
                _tune_launch(s, launch, deadline, tick)
                tuning.save()
            try:
                cl.enqueue_nd_range_kernel(queue, step.kernel.cl, step.gws, step.lws)
            except cl.Error as error:
                raise KernelLaunchError(f"while tuning, step {i}: {describe_failure(step, error)}") from None
        queue.finish()
    finally:
        tuning.save()  # also on Ctrl-C: what was measured stays measured
        if progress:
            progress(total, total, "done")
    return measured


def _stage_inputs(s: LocalSizes) -> None:
    """Seeded random inputs: tuning needs real data flowing through the plan, not a particular image."""
    rng = np.random.default_rng(0)
    for buf, shape in s.plan.input_buffers.values():  # fp32 whatever the storage type (run_plan's contract)
        cl.enqueue_copy(s.bench.queue, buf, rng.standard_normal(shape).astype(np.float32))
    s.bench.queue.finish()


def _runs(queue, launch: Launch, lws, runs: int) -> list[float]:
    """`runs` runs of the launch enqueued back to back, then one wait: each one's device time in microseconds.
    Back to back, as in a plan: a device left idle between runs (PoCL's worker threads asleep, a GPU's clocks
    down) times lone launches unlike the same launch in a plan, and not alike for every local size."""
    gws = whole_groups(launch.gws, lws)
    events = [cl.enqueue_nd_range_kernel(queue, launch.step.kernel.cl, gws, lws) for _ in range(runs)]
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


def _measure(queue, launch: Launch, lws, before, reference, check, best_us) -> Candidate:
    """A candidate's entry for the record: time_us, dropped_us or failed. Runs into the launch's own buffers,
    restored to `before` first, and checks them against `reference` (the default local size's result) with
    `check` = (storage dtype, tolerance)."""
    result, buffers = Candidate(lws=tuple(lws)), launch.buffers
    try:
        _write(queue, buffers, before)
        _runs(queue, launch, lws, 1)  # the warm-up (PoCL compiles a work-group function per local size here)
        result.failed = difference(_read(queue, buffers), reference, *check)
        if result.failed:
            return result
        samples = _runs(queue, launch, lws, DROP_AFTER)
        if best_us is not None and min(samples) > DROP_FACTOR * best_us:
            result.dropped_us = round(min(samples), 3)
            return result
        samples += _runs(queue, launch, lws, REPEATS - DROP_AFTER)
    except cl.Error as error:
        result.failed = error_text(error)
        return result
    result.time_us = round(min(samples), 3)
    return result


def _tune_launch(s: LocalSizes, launch: Launch, deadline: float, tick) -> None:
    """Measure the launch's candidates and store its record (also when interrupted: `complete` False then). The
    plan's buffers hold the state right before its step, and hold it again afterwards."""
    step, queue, buffers, tuning = launch.step, s.bench.queue, launch.buffers, s.bench.tuning
    check = (STORAGE[s.bench.data_type], TOLERANCE[s.bench.data_type])
    old = tuning.record(launch.key)
    before = _read(queue, buffers)
    try:
        _runs(queue, launch, step.lws, 1)
    except cl.Error as error:  # the plan itself cannot run: nothing to compare with
        failed = Candidate(lws=step.lws, failed=error_text(error))
        tuning.put(launch.key, LocalSizeRecord(step.lws, step.lws, complete=True, candidates=[failed]))
        return
    reference = _read(queue, buffers)
    results = [_measure(queue, launch, step.lws, before, reference, check, None)]
    results += [c for c in (old.candidates if isinstance(old, LocalSizeRecord) else []) if c.lws != step.lws]
    complete, confirmed = False, None
    try:
        for lws in launch.candidates:  # _plan_candidates left out those an earlier run measured
            if lws == step.lws:
                continue
            if time.perf_counter() > deadline:
                break
            leader = best(results)
            results.append(_measure(queue, launch, lws, before, reference, check, leader and leader.time_us))
            tick(launch)
        else:
            complete = True
        _write(queue, buffers, before)
        confirmed = confirm(results, lambda r: _retime(queue, launch, r.lws))
    finally:
        _write(queue, buffers, before)
        chosen = confirmed or best(results) or results[0]
        timed = chosen if chosen.time_us is not None else None
        tuning.put(launch.key, LocalSizeRecord(chosen.lws, step.lws, timed and timed.time_us, results[0].time_us,
                                               complete, results))


def _retime(queue, launch: Launch, lws) -> float | None:
    try:
        return min(_runs(queue, launch, lws, REPEATS))
    except cl.Error:
        return None


__all__ = ["candidates", "padding", "open_local_sizes", "tune_local_sizes", "MAX_CANDIDATES", "MAX_PADDING",
           "TOLERANCE"]
