"""The OpenCL engine: plan once (shapes, buffers with reuse, kernel per node, programs, arguments bound), then
each run only copies inputs in, enqueues the bound kernels and copies outputs out."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from .. import ops, passes
from ..errors import ConvertError, InputError, KernelLaunchError, PymaceError
from ..ir.graph import Graph, Node
from ..ops.base import Const, Counters, LaunchContext, Scratch
from ..reference.executor import check_inputs
from . import memory
from .device import DeviceInfo, cl
from .enqueue import EnqueueError, Enqueuer
from .programs import ProgramBuilder

log = logging.getLogger(__name__)
STORAGE = {"fp32": np.float32, "fp16": np.float16}
DEVICE_INT = np.int32  # every integer and bool tensor on the device (docs/ir.md, "Integer tensors")


def is_float(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


def to_device_ints(data: np.ndarray, what: str, error=InputError) -> np.ndarray:
    """An integer or bool array as the device's int32, refusing values that int32 cannot hold."""
    data = np.asarray(data)
    if data.size and data.dtype.kind in "iu" and (data.min() < -2**31 or data.max() >= 2**31):
        raise error(f"{what}: integer values outside the int32 range the device holds "
                         f"({data.min()} .. {data.max()})")
    return np.ascontiguousarray(data, DEVICE_INT)


@dataclass
class TensorRef:
    """A tensor as an op's launch sees it."""

    name: str
    shape: tuple[int, ...]
    const: np.ndarray | None = None
    dtype: str = "float32"  # the IR dtype; integer and bool tensors are int32 on the device

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass
class LaunchSpec:
    program: str
    name: str
    gws: tuple[int, ...]
    args: list
    options: tuple[str, ...]
    lws: tuple[int, ...] | None


@dataclass
class Step:
    """One bound kernel launch: everything the run loop needs, and what errors and profiles report."""

    node: Node
    kernel: object
    gws: tuple[int, ...]
    lws: tuple[int, ...]
    program: str
    kernel_name: str
    options: str
    tuning_key: str = ""
    tuned: bool = False


@dataclass
class Choice:
    """A node's variant choice (LaunchContext.choose): what the op offered and what the plan used."""

    key: str
    default: dict
    candidates: list[dict]
    chosen: dict
    tuned: bool
    node: Node


class _Context(LaunchContext):
    def __init__(self, node, inputs, outputs, data_type, device, planner):
        self.node, self.inputs, self.outputs = node, inputs, outputs
        self.data_type, self.device, self._planner = data_type, device, planner
        self.launches: list[LaunchSpec] = []
        self.choice: Choice | None = None

    def choose(self, key, default, candidates):
        self.choice = self._planner.choose(f"{key} {self.data_type}", default, candidates, self.node)
        return self.choice.chosen

    def kernel(self, program, name, gws, args, options=(), lws=None):
        self.launches.append(LaunchSpec(program, name, tuple(int(g) for g in gws), list(args), tuple(options),
                                        tuple(lws) if lws else None))


def default_local_size(gws: tuple[int, ...], limit: int, is_gpu: bool,
                       max_item_sizes: tuple[int, ...] = ()) -> tuple[int, ...]:
    """A local size that covers the fastest-varying dimension first (coalesced on GPUs, vectorised across
    work-items on PoCL): dimension 0 rounds up to a power of two, outer dimensions take the largest divisor that
    fits, so padding work-items appear (almost) only along dimension 0. The tuner replaces it where it measured
    something better."""
    budget = min(limit, 128 if is_gpu else 64)
    lws = []
    for dim, g in enumerate(gws):
        cap = min(budget, max_item_sizes[dim]) if dim < len(max_item_sizes) else budget  # NVIDIA: dim 2 ≤ 64
        if dim == 0:
            size = 1
            while size * 2 <= cap and size < g:
                size *= 2
        else:
            size = max(d for d in range(1, min(g, cap) + 1) if g % d == 0)
        lws.append(size)
        budget = max(1, budget // size)
    return tuple(lws)


@dataclass
class MemoryReport:
    weights_bytes: int = 0
    activation_bytes: int = 0  # sum of planned slots (scratch buffers included)
    peak_live_bytes: int = 0  # lower bound: the largest set of activations alive at once

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.activation_bytes

    def as_dict(self) -> dict:
        return {"weights_bytes": self.weights_bytes, "activation_bytes": self.activation_bytes,
                "peak_live_activation_bytes": self.peak_live_bytes, "peak_device_bytes": self.total_bytes}


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    memory: MemoryReport = field(default_factory=MemoryReport)
    input_buffers: dict = field(default_factory=dict)  # graph input → (buffer, shape)
    output_buffers: dict = field(default_factory=dict)  # graph output → (buffer, shape)
    int_dtypes: dict = field(default_factory=dict)  # integer/bool graph input or output → its IR dtype
    # Kernel arguments do not keep OpenCL buffers alive: the plan owns every buffer it bound.
    owned: list = field(default_factory=list)
    enqueuer: object = None  # set by the engine once the queue exists


class Planner:
    """Builds a Plan for a graph with static shapes on one device."""

    def __init__(self, graph: Graph, device: DeviceInfo, context, programs: ProgramBuilder, data_type: str,
                 tuning=None, overrides: dict[str, dict] | None = None):
        """`tuning`: the TuningFile whose local sizes and variant choices the plan uses (None: defaults only);
        `overrides`: choice key → variant, ahead of the file (the tuner's candidates). The plan runs the graph
        as fused for this device (passes.for_device); `graph` itself is left as it is."""
        self.graph = passes.for_device(graph, device)
        self.device, self.context, self.programs = device, context, programs
        self.data_type, self.storage, self.tuning = data_type, STORAGE[data_type], tuning
        self.overrides = overrides or {}
        self.dtype_options = ("-DFP16_STORAGE",) if data_type == "fp16" else ()
        self._const_buffers: dict[int, object] = {}
        self.memory = MemoryReport()

    def choose(self, key: str, default: dict, candidates: list[dict], node: Node) -> Choice:
        """An override, else a tuned choice that is one of the op's candidates (a tuning file cannot make an op
        launch what it does not offer), else the op's default."""
        for found, tuned in ((self.overrides.get(key), False),
                             (self.tuning.get_choice(key) if self.tuning is not None else None, True)):
            if found is not None and found in candidates:
                return Choice(key, default, candidates, found, tuned, node)
        return Choice(key, default, candidates, default, False, node)

    def collect_launches(self) -> tuple[list[tuple[Node, list[LaunchSpec]]], dict[str, str]]:
        """Every node's launches (ops decide kernels and variants here), and alias tensor → buffer owner.
        The variant choices the ops made land in `self.choices` (id of the node → Choice)."""
        root = {}
        launches: list[tuple[Node, list[LaunchSpec]]] = []
        self.choices: dict[int, Choice] = {}
        for node in self.graph.nodes:
            module = ops.get(node.op_type)
            if getattr(module, "ALIAS", False):
                root[node.outputs[0]] = root.get(node.inputs[0], node.inputs[0])
                continue
            ins = [self._ref(i) if i else None for i in node.inputs]
            outs = [self._ref(o) for o in node.outputs]
            ctx = _Context(node, ins, outs, self.data_type, self.device, self)
            module.launch(ctx, _op_type=node.op_type, **node.attrs)
            launches.append((node, ctx.launches))
            if ctx.choice is not None:
                self.choices[id(node)] = ctx.choice
        return launches, root

    def required_programs(self) -> list[tuple[str, str]]:
        """(kernel file stem, canonical build options) of every program this graph needs on this device."""
        from .programs import canonical_options

        launches, _ = self.collect_launches()
        found = {(spec.program, canonical_options(self.options(spec))) for _, specs in launches for spec in specs}
        return sorted(found)

    def build(self) -> Plan:
        graph = self.graph
        launches, root = self.collect_launches()
        buffers = self._allocate(launches, root)
        plan = Plan(memory=self.memory)
        for node, specs in launches:
            for spec in specs:
                plan.steps.append(self._bind(node, spec, buffers))
        for name in graph.inputs:
            plan.input_buffers[name] = (buffers[root.get(name, name)], graph.tensors[name].shape)
        for name in graph.outputs:
            plan.output_buffers[name] = (buffers[root.get(name, name)], graph.tensors[name].shape)
        plan.int_dtypes = {n: graph.tensors[n].dtype for n in [*graph.inputs, *graph.outputs]
                           if not is_float(graph.tensors[n].dtype)}
        staging = self._stage_fp32(plan) if self.data_type == "fp16" else []
        plan.owned = [*buffers.values(), *self._const_buffers.values(), *staging]
        return plan

    def _stage_fp32(self, plan: Plan) -> list:
        """fp16 storage: the host always hands over and gets back fp32. Each graph input and output gets an fp32
        buffer and a conversion launch on the device (kernels/storage.cl), cheaper than NumPy's fp16 casts."""
        made = []

        def staged(name, shape, kernel, inward):
            size = int(np.prod(shape))
            fp32 = cl.Buffer(self.context, cl.mem_flags.READ_WRITE, max(4 * size, 4))
            made.append(fp32)
            node = Node(f"{'input' if inward else 'output'} {name} (fp32 <-> fp16)", "StorageCast", [name], [name])
            bound = plan.input_buffers if inward else plan.output_buffers
            src, dst = (fp32, bound[name][0]) if inward else (bound[name][0], fp32)
            spec = LaunchSpec("storage", kernel, (size,), [src, dst, np.int32(size)], (), None)
            bound[name] = (fp32, shape)
            return self._bind(node, spec, {})

        first = [staged(n, s, "to_storage", True) for n, (_, s) in list(plan.input_buffers.items())
                 if n not in plan.int_dtypes]
        last = [staged(n, s, "to_float", False) for n, (_, s) in list(plan.output_buffers.items())
                if n not in plan.int_dtypes]
        plan.steps = first + plan.steps + last
        return made

    def _ref(self, name: str) -> TensorRef:
        t = self.graph.tensors[name]
        return TensorRef(name, tuple(t.shape), t.data, t.dtype)

    def _allocate(self, launches, root) -> dict:
        """Lifetimes per buffer-owning tensor and per scratch, then memory.plan, then device buffers."""
        graph, itemsize = self.graph, np.dtype(self.storage).itemsize
        consts = {n for n, t in graph.tensors.items() if t.is_const}
        first, last, sizes = {}, {}, {}

        def touch(name, step, writes=False):
            name = root.get(name, name)
            if name in consts or not name:
                return
            size = np.dtype(DEVICE_INT).itemsize if not is_float(graph.tensors[name].dtype) else itemsize
            sizes[name] = max(sizes.get(name, 0), int(np.prod(graph.tensors[name].shape)) * size)
            if writes:
                first.setdefault(name, step)
            last[name] = max(last.get(name, step), step)

        for name in graph.inputs:
            touch(name, -1, writes=True)
        scratch = []
        for step, (node, specs) in enumerate(launches):
            for i in node.inputs:
                touch(i, step)
            for o in node.outputs:
                touch(o, step, writes=True)
            for spec in specs:
                scratch += [(step, a) for a in spec.args if isinstance(a, Scratch)]
        for name in graph.outputs:
            touch(name, len(launches))
        intervals = [memory.Interval(n, sizes[n], first.get(n, -1), last[n]) for n in sizes]
        intervals += [memory.Interval(f"#scratch{id(a)}", a.size * itemsize, s, s) for s, a in scratch]
        assignment, slot_sizes = memory.plan(intervals)
        slot_buffers = [cl.Buffer(self.context, cl.mem_flags.READ_WRITE, max(s, 4)) for s in slot_sizes]
        self.memory.activation_bytes = sum(slot_sizes)
        self.memory.peak_live_bytes = memory.peak_live_bytes(intervals)
        buffers = {n: slot_buffers[s] for n, s in assignment.items()}
        for name, target in root.items():
            if target in buffers:
                buffers[name] = buffers[target]
        return buffers

    def _const_buffer(self, data: np.ndarray, writable: bool = False):
        key = id(data)
        if key not in self._const_buffers:
            if data.dtype.kind == "f":
                host = np.ascontiguousarray(data.astype(self.storage))
            elif data.dtype.kind in "iub":
                host = to_device_ints(data, "a constant tensor", ConvertError)
            else:
                host = np.ascontiguousarray(data)
            if host.nbytes == 0:
                host = np.zeros(1, dtype=host.dtype)
            access = cl.mem_flags.READ_WRITE if writable else cl.mem_flags.READ_ONLY
            buf = cl.Buffer(self.context, access | cl.mem_flags.COPY_HOST_PTR, hostbuf=host)
            self._const_buffers[key] = (buf, data)  # keep `data` alive so its id stays unique
            self.memory.weights_bytes += host.nbytes
        return self._const_buffers[key][0]

    def _arg(self, a, buffers):
        if isinstance(a, TensorRef):
            return self._const_buffer(a.const) if a.const is not None else buffers[a.name]
        if isinstance(a, Const):
            return self._const_buffer(a.data)
        if isinstance(a, Scratch):
            return buffers[f"#scratch{id(a)}"]
        if isinstance(a, Counters):
            return self._const_buffer(np.zeros(max(a.size, 1), np.int32), writable=True)
        if isinstance(a, (np.integer, np.floating, cl.Buffer)):
            return a
        raise PymaceError(f"unsupported kernel argument {type(a).__name__}")

    def options(self, spec: LaunchSpec) -> tuple[str, ...]:
        """A launch's build options: the op's, the data type's, and -DKERNEL_<name>. A program is built for one
        kernel (a file of several guards each with #ifdef KERNEL_<name>): PoCL compiles every kernel of a program
        to native code when its binary is taken for the cache, so unused kernels would cost every cold start."""
        return spec.options + self.dtype_options + (f"-DKERNEL_{spec.name}",)

    def _bind(self, node: Node, spec: LaunchSpec, buffers) -> Step:
        options = self.options(spec)
        program = self.programs.get(spec.program, options)
        kernel = cl.Kernel(program, spec.name)
        kernel.set_args(*[self._arg(a, buffers) for a in spec.args])
        limit = kernel.get_work_group_info(cl.kernel_work_group_info.WORK_GROUP_SIZE, self.device.cl_device)
        key = tuning_key(spec, options)
        lws, tuned = spec.lws, False
        if lws is None and self.tuning is not None:
            found = self.tuning.get(key)
            lws, tuned = (tuple(found), True) if found else (None, False)
        if lws is None or int(np.prod(lws)) > limit:
            lws = default_local_size(spec.gws, limit, self.device.is_gpu, self.device.max_work_item_sizes)
        choice = self.choices.get(id(node))
        tuned = tuned or bool(choice and choice.tuned)  # a tuned variant counts as tuned for each of its launches
        return Step(node, kernel, whole_groups(spec.gws, lws), lws, spec.program, spec.name, " ".join(options), key,
                    tuned)


def whole_groups(gws, lws) -> tuple[int, ...]:
    """The global size rounded up to whole work-groups (kernels guard the padding work-items)."""
    return tuple(-(-g // l) * l for g, l in zip(gws, lws))


def tuning_key(spec: LaunchSpec, options) -> str:
    """What a launch's best local size depends on: kernel, options, integer arguments and global size. The integer
    arguments are there because one kernel, options and global size can still differ in work (a gemm's K: the
    classifiers of MobileNetV2 and ResNet-50 share all else)."""
    scalars = ",".join(str(int(a)) for a in spec.args if isinstance(a, np.integer)) or "-"
    return (f"{spec.program}/{spec.name} {' '.join(sorted(options))} args={scalars} "
            f"gws={'x'.join(map(str, spec.gws))}")


def enqueue_all(queue, steps: list[Step], events: bool = False, enqueuer=None):
    """The hot loop: one enqueue per bound kernel, nothing else (events only when profiling)."""
    try:
        if not events:
            (enqueuer or Enqueuer(queue, steps))()
            return None
        return [cl.enqueue_nd_range_kernel(queue, s.kernel, s.gws, s.lws) for s in steps]
    except EnqueueError as e:
        raise KernelLaunchError(describe_failure(e.step, e)) from None
    except cl.Error as e:
        bad = _failing_step(queue, steps)
        raise KernelLaunchError(describe_failure(bad, e) if bad else f"OpenCL error while running: {e}") from None


def _failing_step(queue, steps):
    for s in steps:
        try:
            cl.enqueue_nd_range_kernel(queue, s.kernel, s.gws, s.lws)
            queue.finish()
        except cl.Error:
            return s
    return None


def describe_failure(s: Step, e) -> str:
    return (f"node {s.node.name!r} ({s.node.op_type}): kernel {s.kernel_name} of {s.program}.cl failed with "
            f"{e}; global size {s.gws}, local size {s.lws}, build options [{s.options}]")


def run_plan(queue, plan: Plan, feeds: dict[str, np.ndarray], profile: bool = False):
    """Copy inputs in, enqueue every step, copy outputs out (fp32 on the host whatever the storage type)."""
    staged = [to_device_ints(feeds[name], f"input {name!r}") if name in plan.int_dtypes else
              np.ascontiguousarray(feeds[name], dtype=np.float32) for name in plan.input_buffers]
    for (buf, _shape), host in zip(plan.input_buffers.values(), staged):  # `staged` lives until finish()
        cl.enqueue_copy(queue, buf, host, is_blocking=False)
    events = enqueue_all(queue, plan.steps, events=profile, enqueuer=plan.enqueuer)
    outputs = {}
    for name, (buf, shape) in plan.output_buffers.items():
        host = np.empty(shape, dtype=DEVICE_INT if name in plan.int_dtypes else np.float32)
        cl.enqueue_copy(queue, host, buf, is_blocking=False)
        outputs[name] = host
    queue.finish()
    for name, dtype in plan.int_dtypes.items():
        if name in outputs:
            outputs[name] = outputs[name].astype(dtype)
    if profile:
        times = [(e.profile.end - e.profile.start) * 1e-9 for e in events]
        return outputs, times
    return outputs


__all__ = ["Planner", "Plan", "Step", "run_plan", "enqueue_all", "check_inputs"]
