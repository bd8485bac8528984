"""The run loop: copy inputs in, enqueue the bound kernels of one executor (runtime/bind.py), copy outputs out.

Planning is runtime/plan.py (pure) and runtime/bind.py (buffers, kernels); this module only runs what they made,
and names the launch that failed when the driver refuses one."""
from __future__ import annotations

from contextlib import nullcontext
from functools import partial

import numpy as np

from ..errors import KernelLaunchError
from .bind import BoundPlan, Step
from .device import cl
from .enqueue import EnqueueError, Enqueuer
from .plan import DEVICE_INT, to_device_ints


def enqueue_all(queue, steps: list[Step], events: bool = False, enqueuer=None):
    """The hot loop: one enqueue per bound kernel, nothing else (events only when profiling)."""
    try:
        if not events:
            (enqueuer or Enqueuer(queue, steps))()
            return None
        return [cl.enqueue_nd_range_kernel(queue, s.kernel.cl, s.gws, s.lws) for s in steps]
    except EnqueueError as e:
        raise KernelLaunchError(describe_failure(e.step, e)) from None
    except cl.Error as e:
        bad = _failing_step(queue, steps)
        raise KernelLaunchError(describe_failure(bad, e) if bad else f"OpenCL error while running: {e}") from None


def _failing_step(queue, steps):
    for s in steps:
        try:
            cl.enqueue_nd_range_kernel(queue, s.kernel.cl, s.gws, s.lws)
            queue.finish()
        except cl.Error:
            return s
    return None


def describe_failure(s: Step, e) -> str:
    return (f"node {s.node.name!r} ({s.node.op_type}): kernel {s.kernel_name} of {s.program}.cl failed with "
            f"{e}; global size {s.gws}, local size {s.lws}, build options [{s.options}]")


def _enqueue_run(plan: BoundPlan, staged: list, outputs: dict, profile: bool):
    """One run's input copies, kernels and output copies: (profiling events or None, the last copy's event)."""
    for (buf, _shape), host in zip(plan.input_buffers.values(), staged):  # `staged` lives until the wait
        cl.enqueue_copy(plan.queue, buf, host, is_blocking=False)
    events = enqueue_all(plan.queue, plan.steps, events=profile, enqueuer=plan.enqueuer)
    last = None
    for name, (buf, _shape) in plan.output_buffers.items():
        last = cl.enqueue_copy(plan.queue, outputs[name], buf, is_blocking=False)
    return events, last


def run_plan(plan: BoundPlan, feeds: dict[str, np.ndarray], profile: bool = False):
    """Copy inputs in, enqueue every step, copy outputs out (fp32 on the host whatever the storage type; integer
    and bool tensors as int32 on the device, in their IR dtype on the host). With `profile` (the plan's queue
    must profile): (outputs, each step's device seconds)."""
    queue, ints = plan.queue, plan.int_dtypes
    staged = [to_device_ints(feeds[name], f"input {name!r}") if name in ints else
              np.ascontiguousarray(feeds[name], dtype=np.float32) for name in plan.input_buffers]
    outputs = {name: np.empty(shape, dtype=DEVICE_INT if name in ints else np.float32)
               for name, (_buf, shape) in plan.output_buffers.items()}
    work = partial(_enqueue_run, plan, staged, outputs, profile)
    with plan.run_lock or nullcontext():  # a driver whose launches must not overlap (runtime/driver_quirks.py)
        events, last = plan.submitter.submit(work) if plan.submitter is not None else work()
        if plan.shared_queue and last is not None:  # in order: this run's last copy done means all of its work is
            last.wait()
        else:
            queue.finish()
    for name, dtype in ints.items():
        if name in outputs:
            outputs[name] = outputs[name].astype(dtype)
    if profile:
        times = [(e.profile.end - e.profile.start) * 1e-9 for e in events]
        return outputs, times
    return outputs


__all__ = ["run_plan", "enqueue_all", "describe_failure"]
