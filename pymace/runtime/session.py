"""A runtime session: one OpenCL device opened for pymace, and everything that belongs to it.

    session = Session.open("auto", storage_dir)
    plan = session.plan(graph, "fp32")          # pure: launches, choices, memory plan (runtime/plan.py)
    prepared = session.prepare(plan)            # programs built (through the cache), local sizes settled
    bound = prepared.bind(session.queue())      # buffers and kernels of one executor (runtime/bind.py)
    outputs = run_plan(bound, feeds)            # the run loop (runtime/executor.py)

The session owns the selected device (DeviceInfo, with its identity and traits), the context, the program builder
with its compiled-program cache, the tuning file and the storage dir they live in; queues are made on demand, one
per executor. The engine, the tuner, `pymace inspect` and `pymace benchmark` get all of these from here and build
none of them by hand."""
from __future__ import annotations

import logging
import threading

from ..config import load as load_config
from ..errors import ModelError
from ..ir.verify import check_device_dtypes
from . import device as devices
from . import driver_caches
from .bind import Prepared, Weights
from .device import DeviceInfo, cl
from .plan import LaunchPlan, make_plan
from .program_cache import ProgramCache
from .programs import ProgramBuilder
from .tuning_file import TuningFile

log = logging.getLogger(__name__)


def storage_dir_for(graph, storage_dir: str | None = None) -> str:
    """Where a model's caches live: the caller's choice, else the environment's or the deployment's (the model's
    metadata), else the platform's cache dir (config.default_storage_dir)."""
    from ..config import default_storage_dir

    return storage_dir or default_storage_dir(graph.metadata.get("storage_dir"))


def _either(setting: bool | None, default: bool) -> bool:
    return default if setting is None else setting


class Session:
    """One device opened: context, programs (+ cache), tuning file, storage dir; queues on demand."""

    def __init__(self, device: DeviceInfo, storage_dir: str, use_cache: bool = True, use_tuning: bool = True,
                 profile: bool = False):
        """`use_cache`: programs through the compiled-program cache; `use_tuning`: the tuning file's values in
        plans (its file is opened either way for whoever wants to store values); `profile`: queues record
        profiling events."""
        self.device, self.storage_dir, self.profile = device, str(storage_dir), profile
        self.context = cl.Context([device.cl_device])
        # a CPU device reads host memory: weight buffers use aligned host arrays in place (bind.Weights)
        self.host_align = device.mem_base_addr_align if device.cl_device.type & cl.device_type.CPU else 0
        self.cache = ProgramCache(self.storage_dir, device.identity) if use_cache else None
        if self.cache is not None and self.cache.distrusted:
            # A driver unpacks a binary into its own cache before it dies on it (PoCL writes the program.bc of a
            # truncated binary, garbage past the cut, under the program's hash): this start's source builds of that
            # program would find it there and die too.
            driver_caches.clear(self.storage_dir)
        self.tuning = TuningFile.open(self.storage_dir, device.identity) if use_tuning else None
        self.programs = ProgramBuilder(self.context, device, self.cache)
        self._uncached: ProgramBuilder | None = None
        settings = load_config()
        # concurrent runs (docs/threads.md): they take turns at enqueuing with a submitter; one queue when shared
        gpu = device.traits.is_gpu
        self.submitter = None
        if _either(settings.submit_lock, gpu):
            from . import submit  # imported where runs take turns (a GPU's, by default): not at a CPU's start

            self.submitter = (submit.SubmitThread if settings.submit_thread else submit.Submitter)()
        self._shared_queue = _either(settings.shared_queue, gpu)
        self._queue, self._queue_lock = None, threading.Lock()

    @classmethod
    def open(cls, device: str | DeviceInfo, storage_dir: str, use_cache: bool = True, use_tuning: bool = True,
             profile: bool = False) -> Session:
        """`device`: a selector (auto | cpu | gpu | P:D) or a DeviceInfo already selected."""
        info = devices.select(device, str(storage_dir)) if isinstance(device, str) else device
        return cls(info, storage_dir, use_cache, use_tuning, profile)

    @property
    def traits(self):
        return self.device.traits

    @property
    def identity(self):
        return self.device.identity

    def queue(self):
        """A new in-order command queue on the device (profiling when the session profiles); the session's one
        queue, made on first use, when its executors share one."""
        props = cl.command_queue_properties.PROFILING_ENABLE if self.profile else 0
        if not self._shared_queue:
            return cl.CommandQueue(self.context, properties=props)
        with self._queue_lock:
            if self._queue is None:
                self._queue = cl.CommandQueue(self.context, properties=props)
            return self._queue

    @property
    def shares_queue(self) -> bool:
        return self._shared_queue

    @property
    def uncached_programs(self) -> ProgramBuilder:
        """Programs built outside the cache (the tuner's candidates: only what a plan uses belongs in it)."""
        if self._uncached is None:
            self._uncached = ProgramBuilder(self.context, self.device)
        return self._uncached

    def plan(self, graph, data_type: str, overrides: dict[str, dict] | None = None,
             use_tuning: bool = True) -> LaunchPlan:
        """The pure launch plan of `graph` for this device (runtime/plan.py), with the tuning file's values unless
        `use_tuning` is False; `overrides`: choice key → variant, ahead of the file."""
        constant = next((n for n in graph.outputs if graph.tensors[n].is_const), None)
        if constant is not None:  # no node computes it: the device has no buffer to hand back
            raise ModelError(f"output {str(constant)[:80]!r} is a constant of the model; the OpenCL runtime hands "
                             "back computed outputs only (--device reference runs it)")
        check_device_dtypes(graph)
        return make_plan(graph, self.traits, data_type, self.tuning if use_tuning else None, overrides)

    def prepare(self, plan: LaunchPlan, weights: Weights | None = None,
                programs: ProgramBuilder | None = None) -> Prepared:
        """The plan's programs built (by `programs`, default the session's, through its cache) and local sizes
        settled; `weights`: constant buffers to share with other plans of the graph (default: new ones)."""
        weights = weights if weights is not None else Weights(self.context, plan.storage, self.host_align)
        return Prepared(plan, self.context, self.device, programs or self.programs, weights)

    def save_cache(self) -> bool:
        """Write what this session built into the cache file, or rewrite a damaged one clean (a no-op without a
        cache or anything to write)."""
        if self.cache is None or not self.cache.needs_save:
            return True
        return self.cache.save()

    def binaries_proved(self) -> None:
        """A run finished: the cached binaries handed out so far loaded and ran, so their load journal goes."""
        if self.cache is not None:
            self.cache.loaded_ok()


__all__ = ["Session", "storage_dir_for"]
