"""The binding half of planning: a LaunchPlan (runtime/plan.py) made runnable on one device.

Two stages, so that any number of executors share what can be shared:
  Prepared   once per plan: every launch's program built (through the session's program builder and its cache)
             and its local size settled against the kernel's limits; the weights, uploaded once (Weights).
  BoundPlan  once per executor: its own queue, activation, scratch and staging buffers and counters, and its
             own kernel objects with their arguments set (a kernel object holds its arguments, so two executors
             cannot share one), plus the enqueuer the run loop calls.
Each bound Step knows its launch (the spec) and the buffers it touches (what the tuner checks and restores)."""
from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field

import numpy as np
import xxhash

from ..errors import ConvertError, PymaceError
from ..ops.base import Const, Counters
from . import driver_quirks
from .cl_kernel import Kernel
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
    """The constant buffers of an engine: float data in the storage type, read-only, one device buffer per
    distinct content — shared by every executor, and by the plans of every input shape (whose launches pack the
    same weights into new arrays of the same content). Plans hold references (`acquire`, `release`); a buffer no
    plan holds is freed."""

    def __init__(self, context, storage, host_align: int = 0):
        """`host_align`: the device reads host memory (a CPU device), and a float array whose data starts at a
        multiple of this many bytes becomes its buffer's memory (CL_MEM_USE_HOST_PTR; 0: never): no copy is made
        — the packed weights (ops/base.aligned_zeros), 14 MB and ~6-9 ms CPU of a warm MobileNetV2 start on
        PoCL. The buffer holds the array (pyopencl keeps `hostbuf`), read-only."""
        self.context, self.storage, self.host_align = context, storage, host_align
        self._by_content: dict[tuple, list] = {}  # content key → [buffer, references, bytes]
        self._key_of: dict[int, tuple] = {}  # id of a live array → its content key (dropped when it dies)
        self._lock = threading.Lock()  # plans may be prepared from several threads at once

    def _key(self, data: np.ndarray) -> tuple:
        key = self._key_of.get(id(data))
        if key is None:
            # xxh3, not a cryptographic hash: every start hashes all the weights, and a model's author chooses its
            # weights anyway (a crafted collision gains nothing a crafted weight could not)
            digest = xxhash.xxh3_128_digest(np.ascontiguousarray(data).view(np.uint8).reshape(-1))
            key = (data.dtype.str, data.shape, digest)
            self._key_of[id(data)] = key
            weakref.finalize(data, self._key_of.pop, id(data), None)
        return key

    def acquire(self, data: np.ndarray) -> tuple[object, tuple]:
        """(the device buffer holding `data`, its key for `release`), uploading it unless its content is there."""
        with self._lock:
            key = self._key(data)
            found = self._by_content.get(key)
            if found is None:
                host = _device_array(data, self.storage)
                if host.nbytes == 0:
                    host = np.zeros(1, dtype=host.dtype)
                in_place = bool(self.host_align) and host.ctypes.data % self.host_align == 0
                if in_place:  # constants never change while they live (as the content keys assume too)
                    host = host.view()
                    host.flags.writeable = False
                flags = cl.mem_flags.READ_ONLY | (cl.mem_flags.USE_HOST_PTR if in_place else cl.mem_flags.COPY_HOST_PTR)
                found = self._by_content[key] = [cl.Buffer(self.context, flags, hostbuf=host), 0, host.nbytes]
            found[1] += 1
            return found[0], key

    def buffer(self, data: np.ndarray):
        """The buffer holding `data`, held as long as the Weights live."""
        return self.acquire(data)[0]

    def release(self, keys) -> None:
        with self._lock:
            for key in keys:
                found = self._by_content.get(key)
                if found is not None:
                    found[1] -= 1
                    if found[1] <= 0:
                        del self._by_content[key]
                        found[0].release()

    @property
    def bytes(self) -> int:
        """Device bytes of the buffers held now."""
        with self._lock:
            return sum(entry[2] for entry in self._by_content.values())

    def held(self) -> list[tuple[str, tuple, int]]:
        """(dtype, shape, device bytes) of each buffer held now."""
        with self._lock:
            return [(np.dtype(key[0]).name, key[1], entry[2]) for key, entry in self._by_content.items()]

    def __len__(self) -> int:
        return len(self._by_content)


def _device_array(data: np.ndarray, storage) -> np.ndarray:
    """A constant as the device holds it: floats in the storage type, integers and bools as int32."""
    if data.dtype.kind == "f":  # no copy when it is one already: the buffer copies it (COPY_HOST_PTR) anyway
        return np.ascontiguousarray(data, storage)
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
    submitter: object | None = None  # runtime/submit.py: when runs of one engine take turns at enqueuing
    shared_queue: bool = False  # the queue is other executors' too: a run waits for its own last copy only
    run_lock: object | None = None  # held while this run's launches are in flight (runtime/driver_quirks.py)

    def release(self) -> None:
        """Free this executor's device buffers now (it cannot run again)."""
        for buffer in self.owned:
            buffer.release()
        self.owned, self.steps, self.enqueuer = [], [], None


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
        programs.build_all((launch.spec.program, launch.options) for launch in plan.launches)
        self._settled = [self._settle(launch, programs) for launch in plan.launches]
        self._spare_kernels = True  # the kernels made while settling are still unbound
        self._lock = threading.Lock()
        self._weight_keys: list[tuple] = []
        self._consts = [self._const_buffers(launch) for launch in plan.launches]

    def _const_buffers(self, launch: Launch) -> dict[int, object]:
        """Argument index → the weight buffer of each constant argument of a launch (held until `close`)."""
        found = {}
        for k, a in enumerate(launch.spec.args):
            data = a.const if isinstance(a, TensorRef) else a.data if isinstance(a, Const) else None
            if data is not None and self.plan.buffer_key(a) is None:
                found[k], key = self.weights.acquire(data)
                self._weight_keys.append(key)
        return found

    def close(self) -> None:
        """Give back the weight buffers this plan holds (its executors are released on their own)."""
        keys, self._weight_keys, self._consts = self._weight_keys, [], []
        self.weights.release(keys)

    def _settle(self, launch: Launch, programs: ProgramBuilder) -> _Settled:
        program = programs.get(launch.spec.program, launch.options)
        kernel = Kernel(program, launch.spec.name)
        limit = kernel.work_group_size(self.device.cl_device)
        items = tuple(self.device.max_work_item_sizes)
        lws = launch.lws
        if lws is None or not fits(lws, launch.spec.gws, limit, items):
            lws = default_local_size(launch.spec.gws, limit, self.device.is_gpu, items)
        # a tuned local size that does not fit is not used, so it does not make the step count as tuned
        tuned = (launch.lws_tuned and lws == launch.lws) or launch.variant_tuned
        return _Settled(program, kernel, tuple(lws), tuned)

    def bind(self, queue, submitter=None, shared_queue: bool = False) -> BoundPlan:
        """A new executor of the plan on `queue` (`submitter`, `shared_queue`: BoundPlan's fields)."""
        plan, rw = self.plan, cl.mem_flags.READ_WRITE
        with self._lock:
            spare, self._spare_kernels = self._spare_kernels, False
        slots = [cl.Buffer(self.context, rw, max(size, 4)) for size in plan.slots]
        buffers = {key: slots[slot] for key, slot in plan.slot_of.items()}
        staging = {key: cl.Buffer(self.context, rw, size) for key, size in plan.staging.items()}
        buffers.update(staging)
        views = {("view", name): buffers[root].get_sub_region(at * plan.element_bytes(name),  # concat_views.py
                                                               n * plan.element_bytes(name))
                 for name, (root, at, n) in plan.views.items()}
        buffers.update(views)
        owned = [*slots, *staging.values(), *views.values()]
        steps = []
        for launch, settled, consts in zip(plan.launches, self._settled, self._consts, strict=True):
            kernel = settled.kernel if spare else Kernel(settled.program, launch.spec.name)
            args, touches = self._args(launch, buffers, owned, consts)
            for k, value in enumerate(args):
                kernel.set_arg(k, value)
            steps.append(Step(launch, kernel, whole_groups(launch.spec.gws, settled.lws), settled.lws,
                              settled.tuned, touches))
        inputs = {name: (buffers[key], shape) for name, (key, shape) in plan.inputs.items()}
        outputs = {name: (buffers[key], shape) for name, (key, shape) in plan.outputs.items()}
        return BoundPlan(queue, steps, plan.memory, inputs, outputs, owned, Enqueuer(queue, steps), self,
                         plan.int_dtypes, submitter, shared_queue, driver_quirks.run_lock(self.device))

    def _args(self, launch: Launch, buffers: dict, owned: list, consts: dict) -> tuple[list, tuple]:
        """The kernel arguments of a launch, and the per-executor buffers among them."""
        values, touched = [], {}
        for k, a in enumerate(launch.spec.args):
            key = self.plan.buffer_key(a)
            if key is not None:
                values.append(touched.setdefault(key, buffers[key]))
            elif k in consts:
                values.append(consts[k])
            elif isinstance(a, Counters):  # written by the kernel while it runs: every executor has its own
                zeros = np.zeros(max(a.size, 1), np.int32)
                owned.append(cl.Buffer(self.context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR,
                                       hostbuf=zeros))
                values.append(owned[-1])
            elif isinstance(a, (np.integer, np.floating, np.void)):  # np.void: a struct (ops/kernel_args.py)
                values.append(a)
            else:
                raise PymaceError(f"unsupported kernel argument {type(a).__name__}")
        return values, tuple(touched.values())


__all__ = ["Prepared", "BoundPlan", "Step", "Weights"]
