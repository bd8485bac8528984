"""pymace.Engine: load a model, prepare it on a device, run it many times — at any input shape, from any number of
threads. docs/api.md is the guide.

    with pymace.Engine("ppocr_det.pmace", device="auto", data_type="fp32") as engine:
        engine.get_inputs()[0].shape        # ['N', 3, 'H', 'W']: symbolic dims by name
        outputs = engine.run({"x": x})      # {output name: array}
        [y] = engine.run(None, {"x": x})    # onnxruntime's form: a list, in output_names order (None: all)
    engine.init_stats                       # programs from cache / from source, seconds spent compiling, phases

The model: a .pmace file, a Graph, or a source model (.onnx, .tflite) converted on the fly and kept in the
storage dir (tools/convert.converted_model; needs the [convert] extra).
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConfigError, InputError
from .feeds import check_feeds, ort_type, shape_key
from .ir import pmace_file, symbolic
from .ir.graph import Graph
from .reference import executor as reference

log = logging.getLogger(__name__)
SOURCE_SUFFIXES = (".onnx", ".tflite")


def model_defaults(metadata: dict) -> tuple[str, str]:
    """(device, data type) when the caller names none: what a deployment YAML recorded in the model (its
    runtime and data_type), else auto and fp32."""
    return ({"cpu": "cpu"}.get(metadata.get("runtime"), "auto"),
            {"fp16_fp32": "fp16"}.get(metadata.get("data_type"), "fp32"))


@dataclass(frozen=True)
class NodeArg:
    """An input or output as onnxruntime's NodeArg describes it: `shape` holds ints and, for dynamic dims, their
    names (str); `type` is onnxruntime's "tensor(float)", `dtype` NumPy's name."""

    name: str
    shape: list
    type: str
    dtype: str


def open_model(model, storage_dir: str | None = None, input_shapes: dict | None = None) -> Graph:
    """The graph of a .pmace file, a Graph (verified as a file's graph is), or a source model converted (once) into
    the storage dir; `input_shapes` (input → dims, ints or symbol names) fixes a source model's dims at
    conversion."""
    path = None if isinstance(model, Graph) else str(model)
    source = path is not None and Path(path).suffix.lower() in SOURCE_SUFFIXES
    if input_shapes and not source:
        raise ConfigError("input_shapes apply to a source model (.onnx, .tflite), which is converted with them")
    if path is None:  # checked as a .pmace file's graph is: a Graph built in code is as untrusted as a file
        from .ir.verify import verify, verify_symbolic

        return verify_symbolic(model) if symbolic.is_symbolic(model) else verify(model)
    if not source:
        return pmace_file.load(path)
    from .config import default_storage_dir
    from .errors import ModelError
    from .tools.convert import convert, converted_model

    target = converted_model(path, storage_dir or default_storage_dir(), input_shapes)
    try:
        return pmace_file.load(str(target))
    except ModelError as e:  # a damaged conversion in the storage dir is converted again
        log.warning("%s; converting %s again", e, path)
        convert(path, target, input_shapes=input_shapes)
        return pmace_file.load(str(target))


class Engine:
    """One model prepared on one device (or on the NumPy reference executor: device="reference").

    Shapes: a model with symbolic dims runs at any input shape it can take. Each new shape is planned when it is
    first run (ir/symbolic.specialize, then a plan; runtime/shape_plans.py); the plans of the last `max_plans`
    shapes (default 8) are kept, sharing the programs and the weight buffers; each holds its executors'
    activation memory, freed when the shape is evicted. The engine plans the model's example shape (the one its
    conversion verified) when it is made.

    Threads: `run` and `run_profiled` may be called from any number of threads at once, as onnxruntime's
    `InferenceSession.run` may, and each call returns its own inputs' outputs. Each concurrent call runs on its own
    executor — its own command queue, activation and scratch buffers and kernel objects — while all of them share
    the programs and the weights; executors are made as concurrency asks for them, up to `max_concurrent_runs`
    per shape (default: one per CPU core, at least two), and a call beyond that waits for a free one.
    docs/threads.md says why this design. `plan` is the first executor of the most recently run shape
    (`plan.steps`, `plan.memory`), `queue` its queue."""

    def __init__(self, model: str | os.PathLike | Graph, device: str | int | None = "auto",
                 data_type: str | None = None, storage_dir: str | None = None, use_cache: bool = True,
                 profile: bool = False, use_tuning: bool = True, max_plans: int | None = None):
        t0 = time.perf_counter()
        self.graph: Graph = open_model(model, storage_dir)
        model_device, model_data_type = model_defaults(self.graph.metadata)
        data_type = data_type or model_data_type
        if data_type not in ("fp32", "fp16"):
            raise ConfigError(f"unknown data type {data_type!r}: use fp32 or fp16")
        self.data_type, self.profile, self.closed = data_type, profile, False
        self.device_spec = str(model_device if device is None else device).strip().lower()
        self.init_stats: dict = {"load_model_seconds": time.perf_counter() - t0}
        self.session = self.device = self.tuning = self._plans = None
        self._unproven = True  # no run has finished yet: the cached binaries loaded are still on trial
        if self.device_spec != "reference":
            self._prepare(storage_dir, use_cache, use_tuning, max_plans)
        self.init_stats["init_seconds"] = time.perf_counter() - t0

    def _prepare(self, storage_dir, use_cache, use_tuning, max_plans) -> None:
        from .runtime.session import Session, storage_dir_for
        from .runtime.shape_plans import ShapePlans

        t = time.perf_counter()
        self.session = Session.open(self.device_spec, storage_dir_for(self.graph, storage_dir), use_cache,
                                    use_tuning, self.profile)
        self.device, self.tuning = self.session.device, self.session.tuning
        self.init_stats["device_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        self._plans = ShapePlans(self.session, self.graph, self.data_type, max_plans)
        example = symbolic.example_shapes(self.graph)
        if len(example) == len(self.graph.inputs):
            self._plans.get(tuple(example[n] for n in self.graph.inputs))
        self.init_stats["plan_seconds"] = time.perf_counter() - t
        cache = self.session.cache
        self.init_stats.update(self.programs.stats.as_dict())
        self.init_stats["cache_file"] = str(cache.path) if cache is not None else None
        self.init_stats["cache_warning"] = getattr(cache, "load_warning", None)
        self.init_stats["tuning_warning"] = getattr(self.tuning, "load_warning", None)
        self.init_stats["tuned_steps"] = sum(s.tuned for s in self.plan.steps) if self.plan else 0

    @classmethod
    def with_input_shapes(cls, source: str | os.PathLike, input_shapes: dict, storage_dir: str | None = None,
                          **options) -> Engine:
        """A source model converted with `input_shapes` (input → dims: an int fixes a dim, a name keeps it
        dynamic), for a model whose dims cannot all stay symbolic (PP-OCR's recogniser needs its height fixed:
        {"x": ["N", 3, 48, "W"]}); kept in the storage dir like Engine(source). `options`: Engine's."""
        return cls(open_model(source, storage_dir, input_shapes), storage_dir=storage_dir, **options)

    # --- what onnxruntime users reach for ------------------------------------------------------------------
    def get_inputs(self) -> list[NodeArg]:
        """The model's inputs: name, shape (ints and symbol names), onnxruntime type, NumPy dtype."""
        return [self._node_arg(n) for n in self.graph.inputs]

    def get_outputs(self) -> list[NodeArg]:
        """The model's outputs; a dim that follows from the inputs' symbols is a name (an input's symbol where it
        equals one, else the source model's name or `<output>.<axis>`)."""
        return [self._node_arg(n) for n in self.graph.outputs]

    def _node_arg(self, name: str) -> NodeArg:
        t = self.graph.tensors[name]
        return NodeArg(name, list(t.shape) if t.shape is not None else None, ort_type(t.dtype), str(t.dtype))

    def close(self) -> None:
        """Free the device buffers and executors of every planned shape; the engine cannot run afterwards.
        Runs in flight finish first (their executors are freed as they end)."""
        if self.closed:
            return
        self.closed = True
        if self._plans is not None:
            self._plans.close()
            self.session.save_cache()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the plans ------------------------------------------------------------------------------------
    @property
    def _newest(self):
        return self._plans.newest if self._plans is not None else None

    @property
    def plan(self):
        """The first executor of the most recently run shape (None on the reference executor or when closed)."""
        entry = self._newest
        return entry.first if entry is not None else None

    @property
    def prepared(self):
        entry = self._newest
        return entry.prepared if entry is not None else None

    @property
    def plans(self) -> list:
        """The shapes planned now (runtime/shape_plans.ShapePlan: key, graph, stats), oldest first."""
        return self._plans.entries() if self._plans is not None else []

    @property
    def max_plans(self) -> int | None:
        return self._plans.limit if self._plans is not None else None

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
        """How many runs of one shape may execute at once (executors made at most); None on the reference
        executor."""
        entry = self._newest
        return entry.pool.limit if entry is not None else None

    @max_concurrent_runs.setter
    def max_concurrent_runs(self, value: int) -> None:
        if self._plans is not None:
            self._plans.set_executors(value)

    @property
    def executors(self) -> int:
        """How many executors (each with its shape's activation memory) exist now, over every planned shape."""
        return sum(entry.pool.made for entry in self.plans)

    @property
    def device_name(self) -> str:
        return self.device.name if self.device is not None else "NumPy reference executor"

    @property
    def inputs(self) -> dict[str, tuple]:
        """Input name → shape; a dynamic dim is its symbol's name."""
        return {n: self.graph.tensors[n].shape for n in self.graph.inputs}

    @property
    def outputs(self) -> list[str]:
        return list(self.graph.outputs)

    @property
    def memory(self):
        """What one executor of the most recent shape costs on the device (weights are shared by all)."""
        return self.plan.memory if self.plan else None

    def example_inputs(self, seed: int = 0, low: float = -1.0, high: float = 1.0) -> dict[str, np.ndarray]:
        """Random inputs (uniform in [low, high)) of the model's example shapes."""
        rng = np.random.default_rng(seed)
        shapes = symbolic.example_shapes(self.graph, complete=True)
        return {n: rng.uniform(low, high, shapes[n]).astype(self.graph.tensors[n].dtype) for n in self.graph.inputs}

    # --- running --------------------------------------------------------------------------------------
    def run(self, output_names=None, input_feed=None, run_options=None, *, feeds=None):
        """Run the model. `run(feeds)` (or `run(feeds=feeds)`) returns {output name: array} for every output;
        onnxruntime's `run(output_names, input_feed)` returns a list of arrays in `output_names` order (None:
        every output). Inputs are checked (names, dtypes, shapes) before any device work; a new input shape is
        planned first."""
        names, feeds, as_list = _call_form(output_names, input_feed, feeds, run_options)
        wanted = self._wanted(names)
        feeds = check_feeds(self.graph, feeds)
        if self._plans is None:
            self._check_open()
            outputs = reference.run(self.graph, feeds)
        else:
            from .runtime.executor import run_plan

            with self._take(feeds) as executor:
                outputs = run_plan(executor, feeds)
            if self._unproven:  # a binary that loads and then kills the driver at its first run is never used again
                self._unproven = False
                self.session.binaries_proved()
        return [outputs[n] for n in wanted] if as_list else {n: outputs[n] for n in wanted}

    def run_profiled(self, feeds: dict[str, np.ndarray]):
        """Outputs and the device time of every step (OpenCL profiling events); needs profile=True."""
        if self._plans is None or not self.profile:
            raise ConfigError("profiling needs an OpenCL device and Engine(..., profile=True)")
        from .runtime.executor import run_plan

        feeds = check_feeds(self.graph, feeds)
        with self._take(feeds) as executor:
            return run_plan(executor, feeds, profile=True)

    def plan_for(self, shapes: Mapping[str, tuple]) -> dict:
        """Plan these input shapes now (a warm-up before the first run of a shape); returns what it cost."""
        if self._plans is None:
            raise ConfigError("planning needs an OpenCL device")
        feeds = {n: np.broadcast_to(np.zeros((), self.graph.tensors[n].dtype), tuple(s)) for n, s in shapes.items()}
        return self._entry(check_feeds(self.graph, feeds)).stats

    def _entry(self, feeds: dict):
        self._check_open()
        return self._plans.get(shape_key(self.graph, feeds))

    def _take(self, feeds: dict):
        self._check_open()
        return self._plans.take(shape_key(self.graph, feeds))

    def _check_open(self) -> None:
        if self.closed:
            raise ConfigError("this engine is closed")

    def _wanted(self, names) -> list[str]:
        if names is None:
            return list(self.graph.outputs)
        unknown = [n for n in names if n not in self.graph.outputs]
        if unknown:
            raise InputError(f"unknown output(s) {unknown}; the model's outputs are {self.graph.outputs}")
        return list(names)


def _call_form(output_names, input_feed, feeds, run_options) -> tuple[list | None, dict, bool]:
    """(output names or None, the feeds, whether to return a list) for run's two call forms."""
    if run_options is not None:
        raise ConfigError("run_options are not supported by pymace")
    if feeds is not None or (isinstance(output_names, Mapping) and input_feed is None):
        if feeds is not None and (output_names is not None or input_feed is not None):
            raise InputError("give run(feeds) or run(output_names, input_feed), not both")
        return None, feeds if feeds is not None else output_names, False
    if input_feed is None:
        raise InputError("run(output_names, input_feed): no input_feed given (the feeds are a dict of input name → "
                         "array: run(feeds) or run(None, feeds))")
    if isinstance(output_names, str) or not (output_names is None or all(isinstance(n, str) for n in output_names)):
        raise InputError(f"output_names must be a list of output names or None, not {output_names!r:.60}")
    return (None if output_names is None else list(output_names)), input_feed, True


__all__ = ["Engine", "NodeArg", "open_model", "model_defaults"]
