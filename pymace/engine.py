"""pymace.Engine: load a .pmace model, prepare it on a device once, run it many times — from any number of threads.

    engine = pymace.Engine("mobilenet_v2.pmace", device="auto", data_type="fp32")
    outputs = engine.run({"input": x})
    engine.init_stats    # programs from cache / from source, seconds spent compiling, init phases
"""
from __future__ import annotations

import logging
import os
import time

import numpy as np

from .errors import ConfigError
from .ir import pmace_file
from .ir.graph import Graph
from .reference import executor as reference

log = logging.getLogger(__name__)


def model_defaults(metadata: dict) -> tuple[str, str]:
    """(device, data type) when the caller names none: what a deployment YAML recorded in the model (its
    runtime and data_type), else auto and fp32."""
    return ({"cpu": "cpu"}.get(metadata.get("runtime"), "auto"),
            {"fp16_fp32": "fp16"}.get(metadata.get("data_type"), "fp32"))


class Engine:
    """One model prepared on one device (or on the NumPy reference executor: device="reference").

    Threads: `run` and `run_profiled` may be called from any number of threads at once, as onnxruntime's
    `InferenceSession.run` may, and each call returns its own inputs' outputs. Each concurrent call runs on its own
    executor — its own command queue, activation and scratch buffers and kernel objects — while all of them share
    the programs and the weights; executors are made as concurrency asks for them, up to `max_concurrent_runs`
    (default: one per CPU core, at least two), and a call beyond that waits for a free one. Each executor adds the
    plan's activation memory (`memory.activation_bytes`); `executors` says how many exist. docs/threads.md says
    why this design. `plan` is the first executor (`plan.steps`, `plan.memory`), `queue` its queue."""

    def __init__(self, model: str | os.PathLike | Graph, device: str | None = "auto", data_type: str | None = None,
                 storage_dir: str | None = None, use_cache: bool = True, profile: bool = False,
                 use_tuning: bool = True):
        t0 = time.perf_counter()
        self.graph: Graph = model if isinstance(model, Graph) else pmace_file.load(str(model))
        model_device, model_data_type = model_defaults(self.graph.metadata)
        data_type = data_type or model_data_type
        if data_type not in ("fp32", "fp16"):
            raise ConfigError(f"unknown data type {data_type!r}: use fp32 or fp16")
        self.data_type, self.profile = data_type, profile
        self.device_spec = (device or model_device).lower()
        self.init_stats: dict = {"load_model_seconds": time.perf_counter() - t0}
        self.plan = self.prepared = self.session = self.device = self.tuning = self._pool = None
        if self.device_spec != "reference":
            self._prepare(storage_dir, use_cache, use_tuning)
        self.init_stats["init_seconds"] = time.perf_counter() - t0

    def _prepare(self, storage_dir, use_cache, use_tuning) -> None:
        from .runtime.pool import ExecutorPool
        from .runtime.session import Session, storage_dir_for

        t = time.perf_counter()
        self.session = Session.open(self.device_spec, storage_dir_for(self.graph, storage_dir), use_cache,
                                    use_tuning, self.profile)
        self.device, self.tuning = self.session.device, self.session.tuning
        queue = self.session.queue()
        self.init_stats["device_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        self.prepared = self.session.prepare(self.session.plan(self.graph, self.data_type))
        self.plan = self.prepared.bind(queue)
        queue.finish()
        self.init_stats["plan_seconds"] = time.perf_counter() - t
        self._pool = ExecutorPool(lambda: self.prepared.bind(self.session.queue()), first=self.plan)
        self.session.save_cache()
        cache = self.session.cache
        self.init_stats.update(self.programs.stats.as_dict())
        self.init_stats["cache_file"] = str(cache.path) if cache is not None else None
        self.init_stats["cache_warning"] = getattr(cache, "load_warning", None)
        self.init_stats["tuning_warning"] = getattr(self.tuning, "load_warning", None)
        self.init_stats["tuned_steps"] = sum(s.tuned for s in self.plan.steps)

    @property
    def storage(self):
        """The NumPy type of the device's activations and weights (float32 or float16)."""
        return {"fp32": np.float32, "fp16": np.float16}[self.data_type]

    @property
    def queue(self):
        return self.plan.queue if self.plan is not None else None

    @property
    def context(self):
        return self.session.context if self.session is not None else None

    @property
    def programs(self):
        return self.session.programs if self.session is not None else None

    @property
    def storage_dir(self) -> str | None:
        return self.session.storage_dir if self.session is not None else None

    @property
    def max_concurrent_runs(self) -> int | None:
        """How many runs may execute at once (executors made at most); None on the reference executor."""
        return self._pool.limit if self._pool is not None else None

    @max_concurrent_runs.setter
    def max_concurrent_runs(self, value: int) -> None:
        if self._pool is not None:
            self._pool.limit = value

    @property
    def executors(self) -> int:
        """How many executors (each with the plan's activation memory) exist so far."""
        return self._pool.made if self._pool is not None else 0

    @property
    def device_name(self) -> str:
        return self.device.name if self.device is not None else "NumPy reference executor"

    @property
    def inputs(self) -> dict[str, tuple]:
        return {n: self.graph.tensors[n].shape for n in self.graph.inputs}

    @property
    def outputs(self) -> list[str]:
        return list(self.graph.outputs)

    @property
    def memory(self):
        """What one executor costs on the device (weights are shared by all)."""
        return self.plan.memory if self.plan else None

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = reference.check_inputs(self.graph, feeds)
        if self.plan is None:
            return reference.run(self.graph, feeds)
        from .runtime.executor import run_plan

        executor = self._pool.acquire()
        try:
            return run_plan(executor, feeds)
        finally:
            self._pool.release(executor)

    def run_profiled(self, feeds: dict[str, np.ndarray]):
        """Outputs and the device time of every step (OpenCL profiling events); needs profile=True."""
        if self.plan is None or not self.profile:
            raise ConfigError("profiling needs an OpenCL device and Engine(..., profile=True)")
        from .runtime.executor import run_plan

        feeds = reference.check_inputs(self.graph, feeds)
        with self._pool.take() as executor:
            return run_plan(executor, feeds, profile=True)
