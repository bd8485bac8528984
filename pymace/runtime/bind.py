"""The binding half of planning: a LaunchPlan (runtime/plan.py) made runnable on one device.

Two stages, so that any number of executors share what can be shared:
  Prepared   once per plan: every launch's program built (through the session's program builder and its cache)
             and its local size settled against the kernel's limits; the weights, uploaded once (Weights).
  BoundPlan  once per executor: its own queue, activation, scratch and staging buffers and counters, and its
             own kernel objects with their arguments set (a cl.Kernel holds its arguments, so two executors
             cannot share one), plus the enqueuer the run loop calls.
Each bound Step knows its launch (the spec) and the buffers it touches (what the tuner checks and restores)."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConvertError, PymaceError
from ..ops.base import Const, Counters
from .device import DeviceInfo, cl
from .enqueue import Enqueuer
from .plan import (
    Launch,
    LaunchPlan,
    MemoryReport,
    TensorRef,
    default_local_size,
    fits,
    to_device_ints,
    whole_groups,
)
from .programs import ProgramBuilder


class Weights:
    """The constant buffers of an engine: each array uploaded once (float data in the storage type), read-only,
    shared by every executor — and by every plan of the same graph and data type."""

    def __init__(self, context, storage):
        self.context, self.storage = context, storage
        self._buffers: dict[int, tuple[object, np.ndarray]] = {}
        self._lock = threading.Lock()  # executors may be bound from several threads at once

    def buffer(self, data: np.ndarray):
        with self._lock:
            found = self._buffers.get(id(data))
            if found is None:
                host = _device_array(data, self.storage)
                if host.nbytes == 0:
                    host = np.zeros(1, dtype=host.dtype)
                flags = cl.mem_flags.READ_ONLY | cl.mem_flags.COPY_HOST_PTR
                found = self._buffers[id(data)] = (cl.Buffer(self.context, flags, hostbuf=host), data)  # `data`
                # stays alive with its buffer, so that its id is not reused by another array
            return found[0]


def _device_array(data: np.ndarray, storage) -> np.ndarray:
    """A constant as the device holds it: floats in the storage type, integers and bools as int32."""
    if data.dtype.kind == "f":
        return np.ascontiguousarray(data.astype(storage))
    if data.dtype.kind in "iub":
        return to_device_ints(data, "a constant tensor", ConvertError)
    return np.ascontiguousarray(data)


@dataclass
class Step:
    """One bound kernel launch: everything the run loop needs, and what errors, profiles and the tuner report."""

    launch: Launch
    kernel: object
    gws: tuple[int, ...]  # rounded up to whole work-groups
    lws: tuple[int, ...]
    tuned: bool  # its local size or its node's variant is the tuning file's
    touches: tuple = ()  # the activation, scratch and staging buffers it reads or writes

    @property
    def node(self):
        return self.launch.node

    @property
    def program(self) -> str:
        return self.launch.spec.program

    @property
    def kernel_name(self) -> str:
        return self.launch.spec.name

    @property
    def options(self) -> str:
        return " ".join(self.launch.options)

    @property
    def tuning_key(self) -> str:
        return self.launch.tuning_key


@dataclass
class BoundPlan:
    """One executor of a plan: runs go in order on its queue; concurrent runs use different executors."""

    queue: object
    steps: list[Step]
    memory: MemoryReport
    input_buffers: dict  # graph input → (buffer, shape), fp32 whatever the storage type
    output_buffers: dict  # graph output → (buffer, shape)
    owned: list = field(default_factory=list)  # kernel arguments do not keep buffers alive: these do
    enqueuer: Enqueuer | None = None
    prepared: Prepared | None = None  # programs and weights, shared with the other executors
    int_dtypes: dict = field(default_factory=dict)  # integer/bool graph input or output → its IR dtype


@dataclass
class _Settled:
    program: object
    kernel: object  # the kernel the limits were read from: the first executor binds it
    lws: tuple[int, ...]
    tuned: bool


class Prepared:
    """A launch plan with its programs built and every launch's local size settled: the op's or the tuning
    file's when it fits the kernel (CL_KERNEL_WORK_GROUP_SIZE) and the device (CL_DEVICE_MAX_WORK_ITEM_SIZES,
    per dimension), else default_local_size."""

    def __init__(self, plan: LaunchPlan, context, device: DeviceInfo, programs: ProgramBuilder, weights: Weights):
        self.plan, self.context, self.device, self.weights = plan, context, device, weights
        self._settled = [self._settle(launch, programs) for launch in plan.launches]
        self._spare_kernels = True  # the kernels made while settling are still unbound
        self._lock = threading.Lock()

    def _settle(self, launch: Launch, programs: ProgramBuilder) -> _Settled:
        program = programs.get(launch.spec.program, launch.options)
        kernel = cl.Kernel(program, launch.spec.name)
        limit = kernel.get_work_group_info(cl.kernel_work_group_info.WORK_GROUP_SIZE, self.device.cl_device)
        items = tuple(self.device.max_work_item_sizes)
        lws = launch.lws
        if lws is None or not fits(lws, launch.spec.gws, limit, items):
            lws = default_local_size(launch.spec.gws, limit, self.device.is_gpu, items)
        # a tuned local size that does not fit is not used, so it does not make the step count as tuned
        tuned = (launch.lws_tuned and lws == launch.lws) or launch.variant_tuned
        return _Settled(program, kernel, tuple(lws), tuned)

    def bind(self, queue) -> BoundPlan:
        """A new executor of the plan on `queue`."""
        plan, rw = self.plan, cl.mem_flags.READ_WRITE
        with self._lock:
            spare, self._spare_kernels = self._spare_kernels, False
        slots = [cl.Buffer(self.context, rw, max(size, 4)) for size in plan.slots]
        buffers = {key: slots[slot] for key, slot in plan.slot_of.items()}
        staging = {key: cl.Buffer(self.context, rw, size) for key, size in plan.staging.items()}
        buffers.update(staging)
        owned = [*slots, *staging.values()]
        steps = []
        for launch, settled in zip(plan.launches, self._settled, strict=True):
            kernel = settled.kernel if spare else cl.Kernel(settled.program, launch.spec.name)
            args, touches = self._args(launch, buffers, owned)
            kernel.set_args(*args)
            steps.append(Step(launch, kernel, whole_groups(launch.spec.gws, settled.lws), settled.lws,
                              settled.tuned, touches))
        inputs = {name: (buffers[key], shape) for name, (key, shape) in plan.inputs.items()}
        outputs = {name: (buffers[key], shape) for name, (key, shape) in plan.outputs.items()}
        return BoundPlan(queue, steps, plan.memory, inputs, outputs, owned, Enqueuer(queue, steps), self,
                         plan.int_dtypes)

    def _args(self, launch: Launch, buffers: dict, owned: list) -> tuple[list, tuple]:
        """The kernel arguments of a launch, and the per-executor buffers among them."""
        values, touched = [], {}
        for a in launch.spec.args:
            key = self.plan.buffer_key(a)
            if key is not None:
                values.append(touched.setdefault(key, buffers[key]))
            elif isinstance(a, TensorRef) and a.const is not None:
                values.append(self.weights.buffer(a.const))
            elif isinstance(a, Const):
                values.append(self.weights.buffer(a.data))
            elif isinstance(a, Counters):  # written by the kernel while it runs: every executor has its own
                zeros = np.zeros(max(a.size, 1), np.int32)
                owned.append(cl.Buffer(self.context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR,
                                       hostbuf=zeros))
                values.append(owned[-1])
            elif isinstance(a, (np.integer, np.floating)):
                values.append(a)
            else:
                raise PymaceError(f"unsupported kernel argument {type(a).__name__}")
        return values, tuple(touched.values())


__all__ = ["Prepared", "BoundPlan", "Step", "Weights"]
