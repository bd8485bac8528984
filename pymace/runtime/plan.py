"""The pure half of planning: (graph, device traits, data type, tuned values) → a LaunchPlan.

A LaunchPlan holds every kernel launch of one inference in run order (program, kernel, global size, arguments as
tensor refs, Const, Scratch, Counters, HostBuffer or NumPy scalars, build options, tuning key, the local size the
op fixed or the tuning file holds), the variant choices the ops made, and the memory plan (which activation
buffer each tensor and scratch lives in, and the report of what the plan costs). No OpenCL here: `pymace inspect`
asks it which programs a model needs, the tuner which choices a model offers, and runtime/bind.py turns it into
kernels and buffers. The plan runs the graph as fused for the device (passes.for_device); the graph given is
left as it is."""
from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np

from .. import ops, passes
from ..config import load as load_config
from ..errors import ConvertError, InputError
from ..ir.graph import Graph, Node
from ..ops.base import Const, Counters, DeviceTraits, LaunchContext, Scratch
from . import memory
from .concat_views import plan_views, split_views

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


@dataclass(frozen=True)
class HostBuffer:
    """An fp32 buffer the host copies into or out of (fp16 storage stages each graph input and output in one)."""

    name: str
    size: int  # elements


@dataclass
class LaunchSpec:
    """One launch as the op recorded it (LaunchContext.kernel)."""

    program: str
    name: str
    gws: tuple[int, ...]
    args: list
    options: tuple[str, ...]
    lws: tuple[int, ...] | None


@dataclass
class Choice:
    """A node's variant choice (LaunchContext.choose): what the op offered and what the plan used."""

    key: str
    default: dict
    candidates: list[dict]
    chosen: dict
    tuned: bool
    node: Node


@dataclass
class Launch:
    """One kernel launch of the plan, with everything that does not need a device to know."""

    node: Node
    spec: LaunchSpec
    options: tuple[str, ...]  # the program's build options: the op's, the data type's, -DKERNEL_<name>
    tuning_key: str
    lws: tuple[int, ...] | None  # the op's fixed local size, else the tuning file's, else None (the default)
    lws_tuned: bool = False  # `lws` is the tuning file's
    variant_tuned: bool = False  # the node's variant is a tuned choice

    @property
    def program_key(self) -> tuple[str, str]:
        """(kernel file stem, canonical build options): the program this launch needs."""
        return self.spec.program, canonical_options(self.options)


@dataclass
class MemoryReport:
    weights_bytes: int = 0  # constants in the storage type, and the kernels' counters
    activation_bytes: int = 0  # sum of planned slots (scratch buffers included)
    peak_live_bytes: int = 0  # lower bound: the largest set of activations alive at once

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.activation_bytes

    def as_dict(self) -> dict:
        return {"weights_bytes": self.weights_bytes, "activation_bytes": self.activation_bytes,
                "peak_live_activation_bytes": self.peak_live_bytes, "peak_device_bytes": self.total_bytes}


@dataclass
class LaunchPlan:
    """Everything an executor of this graph needs, as data. Buffer keys (`buffer_key`) name the activation,
    scratch and staging buffers; `slots[slot_of[key]]` is the byte size of the one a key lives in."""

    graph: Graph  # as fused for the device
    data_type: str
    launches: list[Launch] = field(default_factory=list)  # in run order, fp16 storage casts included
    choices: list[Choice] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)  # bytes per activation buffer
    slot_of: dict[Hashable, int] = field(default_factory=dict)
    staging: dict[Hashable, int] = field(default_factory=dict)  # fp16 storage: key → bytes of an fp32 buffer
    inputs: dict[str, tuple[Hashable, tuple]] = field(default_factory=dict)  # graph input → (buffer key, shape)
    outputs: dict[str, tuple[Hashable, tuple]] = field(default_factory=dict)
    alias: dict[str, str] = field(default_factory=dict)  # tensor → the tensor whose buffer it reinterprets
    # tensor → (the tensor whose buffer holds it, element offset, elements): Concat inputs, Split outputs in place
    views: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    int_dtypes: dict[str, str] = field(default_factory=dict)  # integer/bool graph input or output → IR dtype
    memory: MemoryReport = field(default_factory=MemoryReport)

    @property
    def storage(self):
        return STORAGE[self.data_type]

    def buffer_key(self, arg) -> Hashable | None:
        """The buffer an argument names (activation, scratch, staging), None for constants and scalars."""
        if isinstance(arg, TensorRef) and arg.const is None:
            name = self.alias.get(arg.name, arg.name)
            return ("view", name) if name in self.views else name
        if isinstance(arg, Scratch):
            return ("scratch", id(arg))
        if isinstance(arg, HostBuffer):
            return ("fp32", arg.name)
        return None

    def element_bytes(self, name: str) -> int:
        """Bytes an element of tensor `name` on the device: the storage type's for floats, int32's for the rest."""
        return np.dtype(self.storage if is_float(self.graph.tensors[name].dtype) else DEVICE_INT).itemsize

    def required_programs(self) -> list[tuple[str, str]]:
        """(kernel file stem, canonical build options) of every program the plan launches."""
        return sorted({launch.program_key for launch in self.launches})


class _Context(LaunchContext):
    def __init__(self, node, inputs, outputs, data_type, device, choose):
        self.node, self.inputs, self.outputs = node, inputs, outputs
        self.data_type, self.device, self._choose = data_type, device, choose
        self.launches: list[LaunchSpec] = []
        self.choice: Choice | None = None

    def choose(self, key, default, candidates):
        self.choice = self._choose(f"{key} {self.data_type}", default, candidates, self.node)
        return self.choice.chosen

    def kernel(self, program, name, gws, args, options=(), lws=None):
        self.launches.append(LaunchSpec(program, name, tuple(int(g) for g in gws), list(args), tuple(options),
                                        tuple(lws) if lws else None))


class _Chooser:
    """LaunchContext.choose for a plan: an override, else a tuned choice that is one of the op's candidates (a
    tuning file cannot make an op launch what it does not offer), else the op's default."""

    def __init__(self, tuning, overrides: dict[str, dict] | None):
        self.tuning, self.overrides = tuning, overrides or {}

    def __call__(self, key: str, default: dict, candidates: list[dict], node: Node) -> Choice:
        for found, tuned in ((self.overrides.get(key), False),
                             (self.tuning.get_choice(key) if self.tuning is not None else None, True)):
            if found is not None and found in candidates:
                return Choice(key, default, candidates, found, tuned, node)
        return Choice(key, default, candidates, default, False, node)


def make_plan(graph: Graph, device: DeviceTraits, data_type: str, tuning=None,
              overrides: dict[str, dict] | None = None) -> LaunchPlan:
    """The launch plan of `graph` on a device with these traits. `tuning`: what answers `get(tuning key)` with a
    local size and `get_choice(choice key)` with a variant (a TuningFile; None: the ops' defaults);
    `overrides`: choice key → variant, ahead of the tuning file (the tuner's candidates)."""
    plan = LaunchPlan(passes.for_device(graph, device), data_type)
    nodes = _collect(plan, device, _Chooser(tuning, overrides))
    tuned_nodes = {id(c.node) for c in plan.choices if c.tuned}
    dtype_options = ("-DFP16_STORAGE",) if data_type == "fp16" else ()
    for node, specs in nodes:
        plan.launches += [_launch(node, spec, dtype_options, tuning, id(node) in tuned_nodes) for spec in specs]
    _plan_memory(plan, nodes)
    graph = plan.graph
    plan.int_dtypes = {n: graph.tensors[n].dtype for n in [*graph.inputs, *graph.outputs]
                       if not is_float(graph.tensors[n].dtype)}
    if data_type == "fp16":
        _stage_fp32(plan, tuning)
    plan.memory.weights_bytes = _weights_bytes(plan)
    return plan


def _collect(plan: LaunchPlan, device: DeviceTraits, choose: _Chooser) -> list[tuple[Node, list[LaunchSpec]]]:
    """Every node's launches (ops decide kernels and variants here); aliases and choices land in the plan."""
    graph, found = plan.graph, []
    _alias_in_place_concats(plan)
    for node in graph.nodes:
        if getattr(ops.get(node.op_type), "ALIAS", False):
            plan.alias[node.outputs[0]] = plan.alias.get(node.inputs[0], node.inputs[0])
    views = load_config().concat_views
    if views or (views is None and not device.is_gpu):
        plan.views = plan_views(graph, plan.alias, plan.element_bytes, device.mem_base_addr_align)
        plan.views |= split_views(graph, plan.alias, plan.views, plan.element_bytes, device.mem_base_addr_align)
    for node in graph.nodes:
        module = ops.get(node.op_type)
        if getattr(module, "ALIAS", False):
            continue
        if node.op_type == "Concat" and (node.attrs.get("in_place") or node.inputs[0] in plan.views):
            continue
        if node.op_type == "Split" and node.outputs[0] in plan.views and plan.views[node.outputs[0]][0] == \
                node.inputs[0]:  # its outputs are read in place
            continue
        ins = [_ref(graph, i) if i else None for i in node.inputs]
        ctx = _Context(node, ins, [_ref(graph, o) for o in node.outputs], plan.data_type, device, choose)
        module.launch(ctx, _op_type=node.op_type, **node.attrs)
        found.append((node, ctx.launches))
        if ctx.choice is not None:
            plan.choices.append(ctx.choice)
    return found


def _alias_in_place_concats(plan: LaunchPlan) -> None:
    """An `in_place` Concat (passes/fuse_concat.py) launches nothing: its inputs' producers write their channels
    at out_offset of its output, so each input is given the output's buffer. Checked both ways, since a conv with
    an out_offset writes out_channels' worth of layout: each input's producer has the offset of its slice, and
    every node with an out_offset writes a slice of such a Concat."""
    graph = plan.graph
    producers, sliced = graph.producers(), set()
    for node in graph.nodes:
        if node.op_type != "Concat" or not node.attrs.get("in_place"):
            continue
        shape, offset = graph.tensors[node.outputs[0]].shape, 0
        for name in node.inputs:
            attrs = producers[name].attrs if name in producers else {}
            if len(shape) != 4 or node.attrs.get("axis", 1) % 4 != 1 or \
                    (attrs.get("out_offset"), attrs.get("out_channels")) != (offset, shape[1]):
                raise ConvertError(f"node {node.name!r}: an in-place Concat needs each input written at its "
                                   f"offset by its producer, and {name!r} is not")
            plan.alias[name] = node.outputs[0]
            sliced.add(id(producers[name]))
            offset += graph.tensors[name].shape[1]
    stray = [n.name for n in graph.nodes if n.attrs.get("out_offset") is not None and id(n) not in sliced]
    if stray:
        raise ConvertError(f"node {stray[0]!r} writes at an out_offset but no in-place Concat reads it")


def _ref(graph: Graph, name: str) -> TensorRef:
    t = graph.tensors[name]
    return TensorRef(name, tuple(t.shape), t.data, t.dtype)


def _launch(node: Node, spec: LaunchSpec, dtype_options: tuple, tuning, variant_tuned: bool) -> Launch:
    """A launch's build options are the op's, the data type's and -DKERNEL_<name>: a program is built for one
    kernel (a file of several guards each with #ifdef KERNEL_<name>), since PoCL compiles every kernel of a
    program to native code when its binary is taken for the cache, so unused kernels would cost every cold
    start."""
    options = spec.options + dtype_options + (f"-DKERNEL_{spec.name}",)
    key = tuning_key(spec, options)
    lws, tuned = spec.lws, False
    if lws is None and tuning is not None:
        found = tuning.get(key)
        lws, tuned = (tuple(found), True) if found else (None, False)
    return Launch(node, spec, options, key, lws, tuned, variant_tuned)


def _plan_memory(plan: LaunchPlan, nodes: list[tuple[Node, list[LaunchSpec]]]) -> None:
    """Lifetimes per buffer-owning tensor and per scratch, then memory.plan: slots and who lives in which."""
    graph, itemsize = plan.graph, np.dtype(plan.storage).itemsize
    consts = {n for n, t in graph.tensors.items() if t.is_const}
    first, last, sizes = {}, {}, {}

    def touch(name, step, writes=False):
        name = plan.alias.get(name, name)
        name = plan.views[name][0] if name in plan.views else name  # it lives in its Concat's (Split's) buffer
        if name in consts or not name:
            return
        size = plan.element_bytes(name)
        sizes[name] = max(sizes.get(name, 0), int(np.prod(graph.tensors[name].shape)) * size)
        if writes:
            first.setdefault(name, step)
        last[name] = max(last.get(name, step), step)

    for name in graph.inputs:
        touch(name, -1, writes=True)
    scratch = {}  # one buffer per Scratch object, however many of the node's launches use it
    for step, (node, specs) in enumerate(nodes):
        for i in node.inputs:
            touch(i, step)
        for o in node.outputs:
            touch(o, step, writes=True)
        scratch.update({id(a): (step, a) for spec in specs for a in spec.args if isinstance(a, Scratch)})
    for name in graph.outputs:
        touch(name, len(nodes))
    intervals = [memory.Interval(n, sizes[n], first.get(n, -1), last[n]) for n in sizes]
    intervals += [memory.Interval(plan.buffer_key(a), a.size * itemsize, s, s) for s, a in scratch.values()]
    plan.slot_of, plan.slots = memory.plan(intervals)
    plan.memory.activation_bytes = sum(plan.slots)
    plan.memory.peak_live_bytes = memory.peak_live_bytes(intervals)
    for name in graph.inputs:
        plan.inputs[name] = (plan.alias.get(name, name), graph.tensors[name].shape)
    for name in graph.outputs:
        plan.outputs[name] = (plan.alias.get(name, name), graph.tensors[name].shape)


def _stage_fp32(plan: LaunchPlan, tuning) -> None:
    """fp16 storage: the host always hands over and gets back fp32. Each graph input and output gets an fp32
    buffer and a conversion launch on the device (kernels/storage.cl), cheaper than NumPy's fp16 casts."""
    def staged(name, shape, inward):
        size = int(np.prod(shape))
        host = HostBuffer(name, size)
        plan.staging[plan.buffer_key(host)] = max(4 * size, 4)
        node = Node(f"{'input' if inward else 'output'} {name} (fp32 <-> fp16)", "StorageCast", [name], [name])
        bound = plan.inputs if inward else plan.outputs
        device = TensorRef(bound[name][0], tuple(shape))
        args = [host, device, np.int32(size)] if inward else [device, host, np.int32(size)]
        spec = LaunchSpec("storage", "to_storage" if inward else "to_float", (size,), args, (), None)
        bound[name] = (plan.buffer_key(host), shape)
        return _launch(node, spec, ("-DFP16_STORAGE",), tuning, False)

    first = [staged(n, s, True) for n, (_, s) in list(plan.inputs.items()) if n not in plan.int_dtypes]
    last = [staged(n, s, False) for n, (_, s) in list(plan.outputs.items()) if n not in plan.int_dtypes]
    plan.launches = first + plan.launches + last


def _weights_bytes(plan: LaunchPlan) -> int:
    """Device bytes of the constants (each array once, in the storage type if float) and the counters."""
    seen, total = set(), 0
    for launch in plan.launches:
        for a in launch.spec.args:
            if isinstance(a, Counters):
                total += 4 * max(a.size, 1)
                continue
            data = a.const if isinstance(a, TensorRef) else a.data if isinstance(a, Const) else None
            if data is None or id(data) in seen:
                continue
            seen.add(id(data))
            itemsize = np.dtype(plan.storage if data.dtype.kind == "f" else DEVICE_INT).itemsize
            total += itemsize * max(data.size, 1)
    return total


def canonical_options(options) -> str:
    """Build options as one text, each once, sorted: how a program is named in the builder and the cache."""
    return " ".join(sorted(set(options)))


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


def fits(lws: tuple[int, ...], gws: tuple[int, ...], limit: int, max_item_sizes: tuple[int, ...]) -> bool:
    """Whether a local size can launch: one size per dimension, each within CL_DEVICE_MAX_WORK_ITEM_SIZES, and
    the work-group within the kernel's CL_KERNEL_WORK_GROUP_SIZE."""
    if len(lws) != len(gws) or int(np.prod(lws)) > limit:
        return False
    return all(size <= max_item_sizes[d] for d, size in enumerate(lws) if d < len(max_item_sizes))


def whole_groups(gws, lws) -> tuple[int, ...]:
    """The global size rounded up to whole work-groups (kernels guard the padding work-items)."""
    return tuple(-(-g // l) * l for g, l in zip(gws, lws))


def _integers(args):
    """The integer arguments in order, a struct's integer fields (ops/kernel_args.py) in theirs."""
    for a in args:
        if isinstance(a, np.integer):
            yield a
        elif isinstance(a, np.void):
            yield from (a[f] for f in a.dtype.names if a.dtype[f].kind == "i")


def tuning_key(spec: LaunchSpec, options) -> str:
    """What a launch's best local size depends on: kernel, options, integer arguments and global size. The integer
    arguments are there because one kernel, options and global size can still differ in work (a gemm's K: the
    classifiers of MobileNetV2 and ResNet-50 share all else)."""
    scalars = ",".join(str(int(v)) for v in _integers(spec.args)) or "-"
    return (f"{spec.program}/{spec.name} {' '.join(sorted(options))} args={scalars} "
            f"gws={'x'.join(map(str, spec.gws))}")


__all__ = ["make_plan", "DEVICE_INT", "is_float", "to_device_ints",
           "LaunchPlan", "Launch", "LaunchSpec", "Choice", "TensorRef", "HostBuffer", "MemoryReport",
           "STORAGE", "canonical_options", "default_local_size", "fits", "whole_groups", "tuning_key"]
