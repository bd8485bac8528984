"""verify(graph): a model is untrusted input. Before a plan sizes a buffer or a kernel sees an attribute, every
declared shape and dtype is re-derived from the ops (each op's `infer` checks its inputs and attributes) and
compared with what the model declares; constants must hold exactly the data their records declare.

A model that disagrees with its own ops is refused with one ModelError naming the tensor or node: the engine
plans from declared shapes, and after verify() they are the derived ones."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..errors import ModelError, PymaceError
from ..ops.activation import CODES
from ..ops.base import TensorInfo
from .graph import Graph, Node
from .shapes import infer_node

MAX_DIM = 2**31 - 1  # kernels index with 32-bit ints: every dim, and every tensor's element count, stays below
CODES_NAMES = [k for k in CODES if k]
DTYPES = frozenset("bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32 float64".split())


def check_dims(shape, what: str) -> tuple[int, ...]:
    """`shape` as a tuple of ints in [0, 2³¹) whose product is below 2³¹ too; ModelError naming `what`."""
    if not isinstance(shape, (list, tuple)):
        raise ModelError(f"{what}: shape {str(shape)[:60]} is not a list of dims")
    if len(shape) > 16:
        raise ModelError(f"{what}: rank {len(shape)} (pymace handles up to 16)")
    count = 1
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not 0 <= d <= MAX_DIM:
            raise ModelError(f"{what}: dim {str(d)[:40]} is not an integer in [0, 2^31)")
        count *= int(d)
    if count > MAX_DIM:
        raise ModelError(f"{what}: shape {list(shape)} has {count} elements (at most 2^31 - 1)")
    return tuple(int(d) for d in shape)


def check_dtype(dtype, what: str) -> str:
    if type(dtype) is str and dtype in DTYPES:  # a name NumPy gives back as it is: asking NumPy costs ~10 µs,
        return dtype  # ~5 ms of MobileNetV2's load (540 checks)
    try:
        name = np.dtype(str(dtype)).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ModelError(f"{what}: dtype {str(dtype)[:40]!r} is not one of {', '.join(sorted(DTYPES))}")
    return name


def check_fused_attrs(node: Node) -> None:
    """The attributes pymace adds to producers (docs/ir.md): a kernel's build options come from them."""
    a = node.attrs
    where = f"node {node.name!r} ({node.op_type})"
    act = a.get("activation")
    if act is not None and act not in CODES:
        raise ModelError(f"{where}: unknown fused activation {str(act)[:40]!r} (known: {', '.join(CODES_NAMES)})")
    params = a.get("activation_params", ())
    if params is None:
        params = ()
    if not isinstance(params, (list, tuple)) or len(params) > 2 or not all(
            p is None or (isinstance(p, (int, float)) and not isinstance(p, bool)) for p in params):
        raise ModelError(f"{where}: activation_params {str(params)[:60]} is not a list of up to 2 numbers")
    if act == "PRelu" and not node.inputs:
        raise ModelError(f"{where}: a fused PRelu needs its slope as the last input")
    if "residual" in a and not isinstance(a["residual"], (bool, int)):
        raise ModelError(f"{where}: residual {str(a['residual'])[:20]!r} is not a boolean")
    for key in ("kernel_variant", "dw_activation"):
        if a.get(key) is not None and not isinstance(a[key], str):
            raise ModelError(f"{where}: {key} must be a name")



def _start(graph: Graph) -> dict[str, TensorInfo]:
    """TensorInfo of inputs and constants, each record checked against its data."""
    infos: dict[str, TensorInfo] = {}
    for name, t in graph.tensors.items():
        what = f"tensor {name!r}"
        if t.is_const:
            data = t.data
            if not isinstance(data, np.ndarray):
                raise ModelError(f"{what}: constant data is not an array")
            dtype = check_dtype(data.dtype, what)
            shape = check_dims(data.shape, what)
            if t.shape is not None and tuple(t.shape) != shape:
                raise ModelError(f"{what}: declared shape {list(t.shape)}, its data has shape {list(shape)}")
            if t.dtype is not None and check_dtype(t.dtype, what) != dtype:
                raise ModelError(f"{what}: declared dtype {t.dtype}, its data is {dtype}")
            t.shape, t.dtype = shape, dtype
            infos[name] = TensorInfo(shape, dtype, data)
        else:
            if t.shape is not None:
                t.shape = check_dims(t.shape, what)
            t.dtype = check_dtype(t.dtype, what)
    for name in graph.inputs:
        t = graph.tensors[name]
        if t.is_const:
            raise ModelError(f"graph input {name!r} is also a constant")
        if t.shape is None:
            raise ModelError(f"graph input {name!r} has no shape")
        infos[name] = TensorInfo(t.shape, t.dtype)
    return infos


# Op modules whose kernels read every tensor input as the storage type (floats). An integer or bool tensor is an
# int32 buffer on the device (docs/ir.md) that such a kernel would read as floats: garbage, or past its end in fp16.
FLOAT_KERNELS = {"conv", "conv_transpose", "separable_conv", "pool", "batch_norm", "unary", "resize", "gemm", "rnn"}
INTEGER_INPUTS = {"LSTM": (4,), "GRU": (4,), "RNN": (4,)}  # sequence_lens


def check_device_dtypes(graph: Graph) -> None:
    """ModelError when a node whose kernel reads floats is given an integer or bool tensor (a model may declare
    one; the NumPy reference would compute with it)."""
    for node in graph.nodes:
        if ops.get(node.op_type).__name__.rsplit(".", 1)[-1] not in FLOAT_KERNELS:
            continue
        allowed = INTEGER_INPUTS.get(node.op_type, ())
        for k, name in enumerate(node.inputs):
            if name and k not in allowed and np.dtype(graph.tensors[name].dtype).kind != "f":
                raise ModelError(f"node {node.name!r} ({node.op_type}) reads {name!r} of dtype "
                                 f"{graph.tensors[name].dtype}; its kernel reads floats")


def verify(graph: Graph) -> Graph:
    """Check `graph` (structure, records, every node's shapes and attributes) and return it; a tensor without a
    declared shape gets the derived one. ModelError on the first disagreement."""
    if not isinstance(graph.inputs, list) or not isinstance(graph.outputs, list) or not graph.outputs:
        raise ModelError("the model declares no outputs")
    graph.verify()  # every tensor produced once, every input defined, topological order
    infos = _start(graph)
    for node in graph.nodes:
        if node.op_type not in ops.REGISTRY:
            raise ModelError(f"node {node.name!r} has op type {node.op_type[:40]!r}, which pymace does not know")
        check_fused_attrs(node)
        try:
            derived = infer_node(node, infos)
        except PymaceError as e:
            raise ModelError(str(e)) from None
        for name, info in zip(node.outputs, derived):
            if not name:
                continue
            what = f"tensor {name!r} (output of node {node.name!r}, {node.op_type})"
            shape = check_dims(info.shape, what)
            t = graph.tensors[name]
            if t.shape is not None and tuple(t.shape) != shape:
                raise ModelError(f"{what}: declared shape {list(t.shape)}, its op gives {list(shape)}")
            if check_dtype(t.dtype, what) != check_dtype(info.dtype, what):
                raise ModelError(f"{what}: declared dtype {t.dtype}, its op gives {info.dtype}")
            t.shape = shape
            infos[name] = TensorInfo(shape, t.dtype)
    return graph


MAX_SYMBOL = 128  # characters of a symbolic dim's name


def check_symbolic_dims(shape, what: str) -> tuple:
    """`shape` as a tuple of dims, each an int in [0, 2³¹) or a symbol's name (a non-empty printable str)."""
    if not isinstance(shape, (list, tuple)):
        raise ModelError(f"{what}: shape {str(shape)[:60]} is not a list of dims")
    names = [d for d in shape if isinstance(d, str)]
    for d in names:
        if not 0 < len(d) <= MAX_SYMBOL or not d.isprintable():
            raise ModelError(f"{what}: symbolic dim {d[:40]!r} is not a name of 1 to {MAX_SYMBOL} printable "
                             "characters")
    check_dims([1 if isinstance(d, str) else d for d in shape], what)
    return tuple(d if isinstance(d, str) else int(d) for d in shape)


def verify_symbolic(graph: Graph) -> Graph:
    """Check a graph with symbolic input dims (ir/symbolic.py) and return it: structure and constant records
    here; every shape, dtype and attribute at the graph's example binding (metadata example_shapes), whose
    graph ir/symbolic.specialize builds and verifies. Only graph inputs and outputs may hold symbols."""
    from .symbolic import specialize

    if not isinstance(graph.inputs, list) or not isinstance(graph.outputs, list) or not graph.outputs:
        raise ModelError("the model declares no outputs")
    graph.verify()
    for name, t in graph.tensors.items():
        if t.is_const:
            if not isinstance(t.data, np.ndarray) or t.shape is None or tuple(t.shape) != t.data.shape:
                raise ModelError(f"tensor {name!r}: its declared shape is not its data's")
            if check_dtype(t.dtype, f"tensor {name!r}") != check_dtype(t.data.dtype, f"tensor {name!r}"):
                raise ModelError(f"tensor {name!r}: declared dtype {t.dtype}, its data is {t.data.dtype}")
        elif t.shape is not None:
            symbolic_dims = any(isinstance(d, str) for d in t.shape)
            if symbolic_dims and name not in graph.inputs and name not in graph.outputs:
                raise ModelError(f"tensor {name!r} has symbolic dims; only graph inputs and outputs may")
    example = graph.metadata.get("example_shapes")
    if not isinstance(example, dict) or set(example) != set(graph.inputs):
        raise ModelError("a model with symbolic dims must record example_shapes for every input")
    shapes = {n: check_dims(example[n], f"example shape of {n!r}") for n in graph.inputs}
    try:
        specialize(graph, shapes)
    except PymaceError as e:
        raise ModelError(f"at its example input shapes {shapes}: {e}") from None
    return graph
