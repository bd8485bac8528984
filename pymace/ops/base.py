"""What every op file provides, and the small types they share.

An op file (`pymace/ops/<stem>.py`) holds, side by side:
  OP_TYPES     the IR op types it implements (ONNX names)
  infer(*ins: TensorInfo, **attrs) -> list[(shape, dtype)]         shape inference
  reference(*arrays, **attrs) -> list[np.ndarray]                    the NumPy ground truth
  launch(ctx: LaunchContext, **attrs) -> None                        records OpenCL kernel launches on ctx
  CASES: list[Case]                                                  run on every device against `reference`
  ALIAS = True (optional)   the output is input 0's buffer reinterpreted (Reshape, Flatten, …): no kernel
and its kernel source is `pymace/kernels/<stem>.cl`; each program is built for one kernel with -DKERNEL_<name>
defined, so a file of several kernels guards each with `#ifdef KERNEL_<name>`. Attributes arrive as keyword
arguments named as in ONNX (plus pymace's own, e.g. `activation`; docs/ir.md). Omitted optional inputs arrive as
None. Callers always pass the node's op type as the keyword `_op_type`, so one file can serve several op types
(Add/Sub/Mul/Div).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConvertError

HOST_ALIGN = 128  # bytes: PoCL's CL_DEVICE_MEM_BASE_ADDR_ALIGN, and more than the widest vector a kernel loads


def aligned_zeros(shape, dtype=np.float32) -> np.ndarray:
    """Zeros whose data starts at a multiple of HOST_ALIGN bytes: a CPU device's weight buffer can then use the
    array where it is (runtime/bind.Weights) instead of a copy of it, its vector loads as aligned as in a buffer
    the driver allocated."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.zeros(nbytes + HOST_ALIGN, np.uint8)
    start = -raw.ctypes.data % HOST_ALIGN
    return raw[start:start + nbytes].view(dtype).reshape(shape)


@dataclass(frozen=True)
class TensorInfo:
    """What shape inference knows of a tensor: shape, dtype, and its value when it is a constant."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    value: np.ndarray | None = None


@dataclass(frozen=True)
class Const:
    """A constant buffer an op's launch needs (weights in a kernel-friendly layout). Float data is stored in the
    engine's storage type (fp32 or fp16); integer data as given."""

    data: np.ndarray


@dataclass(frozen=True)
class Scratch:
    """A temporary device buffer of `size` elements (storage type), alive for this node only."""

    size: int


@dataclass(frozen=True)
class Counters:
    """`size` int32 counters in device memory, zero when the plan is made and kept between runs: a kernel that
    counts (conv_gemm's split-K tiles) puts them back to zero before it ends."""

    size: int


@dataclass(frozen=True)
class DeviceTraits:
    """What an op may know of the device it plans for (the runtime fills it from the OpenCL device)."""

    is_gpu: bool
    compute_units: int
    max_work_group_size: int
    max_work_item_sizes: tuple[int, ...]
    local_mem_size: int  # bytes
    fp16: bool  # cl_khr_fp16 (storage is fp16 either way; this says whether half arithmetic exists)
    name: str = ""
    vendor: str = ""
    mem_base_addr_align: int = 0  # bytes a sub-buffer's start must be a multiple of; 0: unknown (none made)
    native_float_width: int = 0  # floats in the device's native vector (16: AVX-512's 32 registers); 0: unknown


@dataclass(frozen=True)
class Ints:
    """A case input of fresh random integers in [low, high) (indices, which may be negative)."""

    shape: tuple[int, ...]
    low: int
    high: int
    dtype: str = "int64"


@dataclass
class Case:
    """One test case of an op: input shapes (fresh random float32 data) or arrays, attributes, and which inputs
    are constants (weights) rather than activations. `tol` is max|err|/max|ref| for fp32 storage."""

    name: str
    # tuple shape -> random normal float32; Ints -> random integers; np.ndarray -> used as is; callable(rng) -> its
    # array (fresh random data in a range, masks: see `uniform`); None -> omitted input
    inputs: list[Any]
    attrs: dict = field(default_factory=dict)
    consts: tuple[int, ...] = ()
    tol: float = 1e-4
    op_type: str | None = None  # defaults to the file's first OP_TYPES entry

    def make_inputs(self, rng: np.random.Generator) -> list[np.ndarray | None]:
        out = []
        for spec in self.inputs:
            if spec is None or isinstance(spec, np.ndarray):
                out.append(spec)
            elif isinstance(spec, Ints):
                out.append(rng.integers(spec.low, spec.high, spec.shape).astype(spec.dtype))
            elif callable(spec):
                out.append(np.asarray(spec(rng)))
            else:
                out.append(rng.standard_normal(spec).astype(np.float32))
        return out


class LaunchContext:
    """Handed to an op's `launch`: what the op may know about its node, and where it records kernel launches.
    The runtime implements it; ops never import pyopencl."""

    node: Any  # the IR Node (name, op_type, inputs, outputs, attrs)
    inputs: list[Any]  # TensorRef | None per node input: .shape, .const (np.ndarray | None), .dtype (the IR's)
    outputs: list[Any]  # TensorRef per node output
    data_type: str  # "fp32" | "fp16" (storage; compute is always fp32)
    device: DeviceTraits

    def kernel(self, program: str, name: str, gws: tuple[int, ...], args: list[Any],
               options: tuple[str, ...] = (), lws: tuple[int, ...] | None = None) -> None:
        """Record one launch of kernel `name` from `kernels/<program>.cl` built with `options`.
        args: input/output refs, Const, Scratch, or numpy scalars (np.int32, np.float32)."""
        raise NotImplementedError  # the runtime supplies the implementation

    def choose(self, key: str, default: dict, candidates: list[dict]) -> dict:
        """The variant to launch for a node whose op has several (kernel, tile, split…): a dict with a "variant"
        name and integer parameters. `key` names what the choice depends on (shapes and geometry, not the node's
        name), `default` is the op's heuristic, `candidates` everything it can launch (default included). The
        runtime returns a tuned choice only when it is one of `candidates`; the tuner times them all."""
        return default


def elem_options(dtype: str) -> tuple[str, ...]:
    """Build options of a data-movement kernel (gather, tile, …) for a tensor of `dtype`: integer and bool tensors
    are int32 on the device (docs/ir.md), float ones the storage type; common.h's elem_t is the element word."""
    return () if np.dtype(dtype).kind == "f" else ("-DINT_ELEMS",)


def ints(values) -> list[int]:
    return [int(v) for v in values]


def check_axis(axis, rank: int, op: str, what: str = "axis", extra: int = 0) -> int:
    """`axis` normalised to [0, rank + extra), ONNX's negative axes counted from the end; ConvertError unless it
    is an integer in [-(rank + extra), rank + extra)."""
    n = rank + extra
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -n <= axis < n:
        raise ConvertError(f"{op} {what} {str(axis)[:40]} is out of range for rank {rank}")
    return int(axis) % n if n else 0


def check_number(value, op: str, what: str) -> float:
    """`value` as a float; ConvertError unless it is a finite real number (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ConvertError(f"{op} {what} {str(value)[:40]!r} is not a finite number")
    return float(value)


def check_ints(values, op: str, what: str) -> list[int]:
    """`values` as a list of ints; ConvertError unless it is a list of integers."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ConvertError(f"{op} {what} {str(values)[:40]} is not a list of integers")
    out = list(values)
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in out):
        raise ConvertError(f"{op} {what} {str(out)[:60]} is not a list of integers")
    return [int(v) for v in out]


def uniform(low: float, high: float, shape, dtype=np.float32):
    """A Case input: fresh uniform random values in [low, high) (integers in [low, high) for an integer dtype)."""
    if np.dtype(dtype).kind in "iu":
        return lambda rng: rng.integers(int(low), int(high), shape).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return lambda rng: rng.random(shape) < 0.5
    return lambda rng: rng.uniform(low, high, shape).astype(dtype)


def broadcast(*shapes, op: str = "") -> tuple[int, ...]:
    """The multidirectional (numpy) broadcast of `shapes`, or a ConvertError naming them (and the op)."""
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        named = " and ".join(str(list(s)) for s in shapes)
        raise ConvertError(f"{op + ': ' if op else ''}shapes {named} do not broadcast") from None


def axis_index(axis, rank: int, what: str = "axis") -> int:
    """`axis` in [-rank, rank) as an index in [0, rank), or a ConvertError."""
    if not -rank <= int(axis) < max(rank, 1):
        raise ConvertError(f"{what} {int(axis)} is out of range for a tensor of rank {rank}")
    return int(axis) % max(rank, 1)


def need_dtype(op: str, info: TensorInfo, kinds: str, what: str = "input") -> None:
    """Raise a ConvertError unless `info`'s dtype is of one of the NumPy kinds in `kinds` ('f', 'iu', 'b')."""
    if np.dtype(info.dtype).kind not in kinds:
        names = {"f": "float", "i": "signed integer", "u": "unsigned integer", "b": "bool"}
        allowed = "/".join(dict.fromkeys(names[k] for k in kinds))
        raise ConvertError(f"{op}: {what} has dtype {info.dtype}; it must be {allowed}")
