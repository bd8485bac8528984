"""ONNX → pymace IR.

Real exports are not tidy: Paddle keeps weights in `Constant` nodes and computes reshape targets from `Shape`,
keras2onnx feeds NHWC inputs through Transposes, dims are symbolic (`p2o.DynamicDimension.0`, `unk__12`), and
static parameters move from attributes to inputs between opsets. The importer walks the nodes in order with
every shape known, folds each node whose inputs are all constant, and turns static parameters into IR attributes
(docs/ir.md) — one importer function per ONNX op type.

Symbolic dims stay symbolic unless `input_shapes` fixes them: the walk then runs at a probe binding
(ir/symbolic.probe_binding), a Shape of an activation stays in the graph, and so does the arithmetic computed
from it (its values at the probe are carried for the importers that need them); a Reshape, Slice or Resize whose
parameters come from there keeps them as inputs (ir/symbolic.DYNAMIC_FORMS). Any other importer that needs such
a value as a constant refuses the node. tools/convert.py converts at two probes and compares the graphs."""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .. import ops
from ..errors import ConvertError, ModelError
from ..ir import symbolic
from ..ir.graph import Graph, Node, Tensor, topological_order
from ..ir.shapes import infer_node
from ..ops.base import TensorInfo
from ..passes.fold_constants import evaluate, foldable, too_big
from ..safe_io import read_bounded, shorten
from . import onnx_control, onnx_einsum, onnx_rnn
from .onnx_math import with_defaults

log = logging.getLogger(__name__)

MAX_ONNX_BYTES = 2 << 30  # protobuf's own limit for one message; larger models keep weights as external data
# Inputs of these ops that are static parameters (IR attributes, or inputs that must be constants: docs/ir.md);
# the conformance tests freeze them.
STATIC_INPUTS = {"Clip": (1, 2), "Split": (1,), "Squeeze": (1,), "Unsqueeze": (1,), "ReduceMean": (1,),
                 "Pad": (1, 2, 3), "Slice": (1, 2, 3, 4), "Resize": (1, 2, 3), "Upsample": (1,), "Reshape": (1,),
                 "Dropout": (1, 2), "ConstantOfShape": (0,), "Expand": (1,), "Range": (0, 1, 2),
                 "Tile": (1,), "TopK": (1,), "LSTM": (4,), "GRU": (4,)}
STATIC_INPUTS.update({op: (1,) for op in ops.reduce.OP_TYPES})  # axes


def load(path_or_model, input_shapes: dict[str, list] | None = None, probe: int = 0) -> Graph:
    """Import an ONNX model (a path or an onnx.ModelProto) into a verified IR graph with every shape known.
    `input_shapes` fixes input dims (ints; a name keeps that dim symbolic under the name). A model left with
    symbolic dims is imported at probe binding `probe` (0 or 1), and its graph's metadata holds `input_dims`
    (input → declared dims, names included) and `output_dims` (the source's declared output dims)."""
    model, meta = _read(path_or_model)
    imp = _Importer(model, dict(input_shapes or {}), meta, probe)
    return imp.run()


def _read(src) -> tuple[onnx.ModelProto, dict]:
    if isinstance(src, onnx.ModelProto):
        data = src.SerializeToString()
        return src, {"source_file": None, "source_sha256": hashlib.sha256(data).hexdigest()}
    path = Path(src)
    try:
        data = read_bounded(path, MAX_ONNX_BYTES)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except OSError as e:
        raise ModelError(f"{path}: cannot read ({e.strerror or e})") from None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as e:  # protobuf raises DecodeError (or RuntimeWarning-ish errors) on damaged bytes
        raise ModelError(f"{path}: not a readable ONNX model, truncated or corrupt ({type(e).__name__})") from None
    if not model.HasField("graph") or not model.graph.output:
        raise ModelError(f"{path}: not an ONNX model (no graph outputs)")
    g = model.graph
    if not all(isinstance(t.name, str) for t in (*g.input, *g.output, *g.initializer)):
        raise ModelError(f"{path}: tensor names that are not UTF-8 text")  # protobuf hands them back as bytes
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        try:
            onnx.external_data_helper.load_external_data_for_model(model, str(path.parent))
        except Exception as e:  # onnx raises OSError, ValueError or ValidationError for bad locations/offsets
            raise ModelError(shorten(f"{path}: external weight data cannot be read ({type(e).__name__}: {e})")) \
                from None
    return model, {"source_file": str(path), "source_sha256": hashlib.sha256(data).hexdigest()}


class _Importer:
    """Builds the IR graph node by node; importers call `emit` and the accessors below."""

    def __init__(self, model: onnx.ModelProto, input_shapes: dict, meta: dict, probe: int = 0):
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.model, self.input_shapes, self.probe = model, input_shapes, probe
        self.declared: dict[str, tuple] = {}  # inputs with symbolic dims → their dims
        self.tainted: set[str] = set()  # tensors whose values follow from symbolic dims (known at the probe)
        name = model.graph.name or Path(meta.get("source_file") or "model").stem
        self.graph = Graph(name, [], {}, [], [o.name for o in model.graph.output], {
            "framework": "onnx", **meta, "opset": self.opset, "ir_version": model.ir_version,
            "producer": f"{model.producer_name} {model.producer_version}".strip()})
        self.infos: dict[str, TensorInfo] = {}
        self.names: set[str] = set()

    # --- the walk -------------------------------------------------------------------------------------
    def run(self) -> Graph:
        g = self.model.graph
        _check_supported(g.node)
        for init in g.initializer:
            self.add_const(init.name, _array(init))
        self._add_inputs(g.input)
        for index, proto in enumerate(_toposort(g, set(self.infos))):
            node = _NodeView(proto, index, self.names)
            try:
                IMPORTERS.get(node.op_type, _generic)(self, node)
            except (TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError) as e:
                # a missing or malformed attribute or input (MaxPool without kernel_shape, Cast without `to`)
                raise ConvertError(shorten(f"node {node.name!r} ({node.op_type}): malformed attributes or inputs "
                                           f"({type(e).__name__}: {e})")) from e
        for name in self.graph.outputs:
            if name not in self.infos:
                raise ModelError(f"graph output {name!r} is never produced")
        self.graph.metadata["input_shapes"] = {i: list(self.graph.tensors[i].shape) for i in self.graph.inputs}
        if self.declared:
            self.graph.metadata["input_dims"] = {i: list(d) for i, d in self.declared.items()}
            self.graph.metadata["output_dims"] = {o.name: _declared_dims(o) for o in self.model.graph.output
                                                  if o.type.tensor_type.HasField("shape")}
        self.graph.verify()
        return self.graph

    def _add_inputs(self, inputs) -> None:
        real = [i for i in inputs if i.name not in self.infos]
        unknown = sorted(set(self.input_shapes) - {i.name for i in real})
        if unknown:
            raise ConvertError(f"input_shapes names {unknown}, but the model's inputs are {[i.name for i in real]}")
        dims = {vi.name: _input_shape(vi, self.input_shapes.get(vi.name)) for vi in real}
        self.declared = {n: d for n, d in dims.items() if any(map(symbolic.is_symbol, d))}
        binding = symbolic.probe_binding(self.declared, self.probe)
        for vi in real:
            shape = symbolic.concrete(dims[vi.name], binding)
            dtype = _elem_dtype(vi.type.tensor_type.elem_type) if vi.type.tensor_type.elem_type else "float32"
            self.graph.inputs.append(vi.name)
            self.graph.tensors[vi.name] = Tensor(vi.name, shape, dtype)
            self.infos[vi.name] = TensorInfo(shape, dtype)

    # --- what importers use ---------------------------------------------------------------------------
    def add_const(self, name: str, value: np.ndarray) -> None:
        value = np.asarray(value)
        self.graph.tensors[name] = Tensor(name, tuple(value.shape), str(value.dtype), value)
        self.infos[name] = TensorInfo(tuple(value.shape), str(value.dtype), value)

    def const(self, node: _NodeView, index: int, what: str) -> np.ndarray | None:
        """The constant value of input `index` (None when omitted); a non-constant static parameter is an error."""
        name = node.input(index)
        if not name:
            return None
        info = self.info(node, name)
        if name in self.tainted:
            raise ConvertError(f"node {node.name!r} ({node.op_type}): {what} ({name!r}) is computed from the "
                               "input's symbolic dims, and pymace needs it as a constant here; fix the input's "
                               "shape with --input-shape (input_shapes= in Python)")
        if info.value is None:
            raise ConvertError(f"node {node.name!r} ({node.op_type}): {what} ({name!r}) must be a constant")
        return info.value

    def info(self, node: _NodeView, name: str) -> TensorInfo:
        if name not in self.infos:
            raise ModelError(f"node {node.name!r} ({node.op_type}) reads undefined tensor {name!r}")
        return self.infos[name]

    def shape(self, node: _NodeView, index: int = 0) -> tuple[int, ...]:
        return self.info(node, node.input(index)).shape

    def emit(self, op_type: str, inputs: list[str], outputs: list[str], attrs: dict, name: str) -> None:
        """Add an IR node, infer its outputs, and fold it when every input is a constant."""
        node = Node(name, op_type, list(inputs), list(outputs), attrs)
        for i in inputs:
            if i and i not in self.infos:
                raise ModelError(f"node {name!r} ({op_type}) reads undefined tensor {i!r}")
        if any(i in self.tainted for i in inputs) or (op_type == "Shape" and self.declared):
            self._emit_symbolic(node)
            return
        if foldable(node, lambda n: self.infos[n].value is not None) and too_big(node, self.infos) is None:
            values = {i: self.infos[i].value for i in inputs if i}
            for out, value in zip(outputs, evaluate(node, values)):
                if out:
                    self.add_const(out, value)
            return
        for out, info in zip(outputs, infer_node(node, self.infos)):
            if out:
                self.infos[out] = info
                self.graph.tensors[out] = Tensor(out, info.shape, info.dtype)
        self.graph.nodes.append(node)

    def _emit_symbolic(self, node: Node) -> None:
        """A node computed from symbolic dims stays in the graph; its values at the probe go on."""
        values = symbolic.values_of(node, self.infos) or []
        for k, (out, info) in enumerate(zip(node.outputs, infer_node(node, self.infos))):
            if out:
                self.infos[out] = TensorInfo(info.shape, info.dtype, values[k] if k < len(values) else None)
                self.graph.tensors[out] = Tensor(out, info.shape, info.dtype)
                self.tainted.add(out)
        self.graph.nodes.append(node)

    def symbolic(self, node: _NodeView, *indices: int) -> bool:
        """Whether any of these inputs of `node` is computed from symbolic dims."""
        return any(node.input(k) in self.tainted for k in indices)

    def temp(self, node: _NodeView, suffix: str) -> str:
        """A fresh tensor name for an importer that expands one ONNX node into several IR nodes."""
        name = f"{node.name}/{suffix}"
        while name in self.infos:
            name += "_"
        return name


class _NodeView:
    """An ONNX node with decoded attributes and a unique name."""

    def __init__(self, proto: onnx.NodeProto, index: int, taken: set[str]):
        self.op_type = proto.op_type
        self.inputs, self.outputs = list(proto.input), list(proto.output)
        if not all(isinstance(t, str) for t in self.inputs + self.outputs + [self.op_type, proto.name]):
            raise ModelError(f"node {index} has names that are not UTF-8 text")  # protobuf hands them back as bytes
        name = proto.name or f"{proto.op_type}_{index}"
        self.name = name if name not in taken else f"{name}_{index}"
        taken.add(self.name)
        self.attrs = {a.name: _attr_value(a, self.name) for a in proto.attribute}

    def input(self, index: int) -> str:
        return self.inputs[index] if index < len(self.inputs) else ""

    def get(self, key: str, default=None):
        return self.attrs.get(key, default)


def _attr_value(a: onnx.AttributeProto, node_name: str):
    if a.type == onnx.AttributeProto.GRAPH:  # If's branches: its importer inlines them
        return a.g
    if a.type in (onnx.AttributeProto.GRAPHS, onnx.AttributeProto.SPARSE_TENSOR):
        raise ConvertError(f"node {node_name!r}: attribute {a.name!r} holds a subgraph or sparse tensor")
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, onnx.TensorProto):
        return _array(v)
    if isinstance(v, list):
        return [x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v]
    return v


def _array(t: onnx.TensorProto) -> np.ndarray:
    try:
        value = numpy_helper.to_array(t).copy()
    except Exception as e:
        raise ModelError(shorten(f"tensor {t.name!r} cannot be read ({type(e).__name__}: {e})")) from None
    if value.dtype.kind not in "biuf":
        raise ConvertError(f"tensor {t.name!r} holds {value.dtype} values (strings, complex): pymace handles numbers")
    return value


def _elem_dtype(elem_type: int) -> str:
    try:
        return str(np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)))
    except (KeyError, TypeError):
        raise ConvertError(f"ONNX element type {elem_type} is not supported") from None


ANONYMOUS_DIMS = ("", "?")  # exporters' "some size": each such dim is a symbol of its own


def _declared_dims(vi: onnx.ValueInfoProto) -> list | None:
    """The declared dims: ints, and names for dynamic ones (an unnamed one is `<tensor>.<axis>`); None for an
    unknown rank."""
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else
            d.dim_param if d.dim_param not in ANONYMOUS_DIMS else f"{vi.name}.{axis}"
            for axis, d in enumerate(t.shape.dim)]


def _input_shape(vi: onnx.ValueInfoProto, given) -> tuple:
    """The input's dims: the model's, where `given` (input_shapes) fixes or renames them."""
    dims = _declared_dims(vi)
    if given is not None:
        given = [d if isinstance(d, str) else int(d) for d in given]
        if dims is not None and (len(given) != len(dims) or any(
                isinstance(d, int) and d != g for d, g in zip(dims, given))):
            raise ConvertError(f"input {vi.name!r}: input_shapes gives {given}, the model declares "
                               f"{[d for d in dims]}")
        return tuple(given)
    if dims is None:
        raise ConvertError(f"input {vi.name!r} has unknown rank; give its shape with --input-shape "
                           f"{vi.name}=D0,D1,… (input_shapes= in Python, input_shapes in a deployment YAML)")
    return tuple(dims)


def _check_supported(nodes) -> None:
    """One UnsupportedOpError for every op type pymace cannot import, with the nodes that use it."""
    missing = []
    for i, n in enumerate(onnx_control.with_subgraphs(nodes)):  # If branches included: one line for all
        op = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
        if op not in IMPORTERS:
            missing.append(Node(n.name or f"{n.op_type}_{i}", op, [], []))
    ops.check_supported(missing)


def _toposort(g: onnx.GraphProto, ready: set[str]) -> list[onnx.NodeProto]:
    """Nodes in an order where each input is produced first (most exports already are; some are not)."""
    return topological_order(g.node, ready, "graph", io=lambda n: (onnx_control.outer_inputs(n), n.output))


# --- importers: one per ONNX op type (op families in onnx_*.py, registered at the end) ----------------
def _generic(imp: _Importer, n: _NodeView) -> None:
    """Ops whose ONNX form is already the IR form."""
    imp.emit(n.op_type, n.inputs, n.outputs, dict(n.attrs), n.name)


def _constant(imp: _Importer, n: _NodeView) -> None:
    for key, cast in (("value", None), ("value_float", np.float32), ("value_floats", np.float32),
                      ("value_int", np.int64), ("value_ints", np.int64)):
        if key in n.attrs:
            imp.add_const(n.outputs[0], np.asarray(n.attrs[key], cast) if cast else n.attrs[key])
            return
    raise ConvertError(f"node {n.name!r} (Constant): unsupported value attribute {sorted(n.attrs)}")


def _identity(imp: _Importer, n: _NodeView) -> None:
    """Identity, and Dropout at inference: nothing is dropped, so its optional mask output is all true."""
    if imp.const(n, 2, "training_mode") is not None and imp.const(n, 2, "training_mode").any():
        raise ConvertError(f"node {n.name!r} (Dropout): training mode is not supported")
    if len(n.outputs) > 1 and n.outputs[1]:
        imp.add_const(n.outputs[1], np.ones(imp.shape(n), bool))
    imp.emit("Identity", [n.input(0)], [n.outputs[0]], {}, n.name)


def _batch_norm(imp: _Importer, n: _NodeView) -> None:
    if n.get("training_mode", 0):
        raise ConvertError(f"node {n.name!r} (BatchNormalization): training mode is not supported")
    imp.emit("BatchNormalization", n.inputs[:5], n.outputs[:1], {"epsilon": float(n.get("epsilon", 1e-5))},
             n.name)


def _clip(imp: _Importer, n: _NodeView) -> None:
    """Clip with constant bounds is the IR's Clip (bounds as attributes); a bound computed at run time (a dB floor
    from the signal's maximum, in audio front ends) makes it Max(x, min) then Min(·, max)."""
    if imp.opset < 11:
        lo, hi = n.get("min"), n.get("max")
    elif any(n.input(k) and imp.info(n, n.input(k)).value is None for k in (1, 2)):
        x = n.input(0)
        if n.input(1):
            x_lo = imp.temp(n, "min") if n.input(2) else n.outputs[0]
            imp.emit("Max", [x, n.input(1)], [x_lo], {}, f"{n.name}/min" if n.input(2) else n.name)
            x = x_lo
        if n.input(2):
            imp.emit("Min", [x, n.input(2)], n.outputs, {}, n.name)
        return
    else:
        lo, hi = imp.const(n, 1, "min"), imp.const(n, 2, "max")
    attrs = {k: float(v) for k, v in (("min", lo), ("max", hi)) if v is not None}
    imp.emit("Clip", [n.input(0)], n.outputs, attrs, n.name)


def _softmax(imp: _Importer, n: _NodeView) -> None:
    """Before opset 13 Softmax, LogSoftmax and Hardmax flattened the input to 2-D at `axis`; keep those semantics
    with Reshapes."""
    shape = imp.shape(n)
    axis = int(n.get("axis", 1 if imp.opset < 13 else -1))
    if not -len(shape) <= axis < max(len(shape), 1):
        raise ConvertError(f"node {n.name!r} ({n.op_type}): axis {axis} is out of range for rank {len(shape)}")
    axis %= max(len(shape), 1)
    if imp.opset >= 13 or axis == len(shape) - 1:
        imp.emit(n.op_type, [n.input(0)], n.outputs, {"axis": axis}, n.name)
        return
    flat, soft = imp.temp(n, "flat"), imp.temp(n, "softmax")
    rows = int(np.prod(shape[:axis], dtype=np.int64))
    imp.emit("Reshape", [n.input(0)], [flat], {"shape": [rows, -1], "allowzero": 0}, f"{n.name}/flatten")
    imp.emit(n.op_type, [flat], [soft], {"axis": 1}, n.name)
    imp.emit("Reshape", [soft], n.outputs, {"shape": list(shape), "allowzero": 0}, f"{n.name}/restore")


def _sum(imp: _Importer, n: _NodeView) -> None:
    """Sum of two inputs is an Add (Caffe2 exports write residual adds as Sum, and an Add fuses into the Conv
    before it); of one an Identity; of more the variadic Sum."""
    op = {1: "Identity", 2: "Add"}.get(len(n.inputs), "Sum")
    imp.emit(op, n.inputs, n.outputs, {}, n.name)


def _cast(imp: _Importer, n: _NodeView) -> None:
    """Cast to the type the tensor already has is an Identity (float → float casts in Paddle exports)."""
    to = int(n.get("to"))
    same = imp.info(n, n.input(0)).dtype == _elem_dtype(to)
    imp.emit("Identity" if same else "Cast", n.inputs, n.outputs, {} if same else {"to": to}, n.name)


def _topk(imp: _Importer, n: _NodeView) -> None:
    """Before opset 10, K is the attribute `k`; the IR takes it as input 1, as ONNX does since."""
    inputs = n.inputs[:2]
    if imp.opset < 10:
        inputs = [n.input(0), imp.temp(n, "k")]
        imp.add_const(inputs[1], np.array([int(n.get("k"))], np.int64))
    imp.emit("TopK", inputs, n.outputs, {k: v for k, v in n.attrs.items() if k != "k"}, n.name)


IMPORTERS = {
    "Constant": _constant, "Identity": _identity, "Dropout": _identity,
    "BatchNormalization": _batch_norm, "Clip": _clip, "Softmax": _softmax, "Sum": _sum, "Cast": _cast,
    "Gemm": with_defaults(alpha=1.0, beta=1.0, transA=0, transB=0),
    "HardSigmoid": with_defaults(alpha=0.2, beta=0.5), "LeakyRelu": with_defaults(alpha=0.01),
    "Flatten": with_defaults(axis=1), "Gather": with_defaults(axis=0), "Concat": _generic,
    "Einsum": onnx_einsum.lower, "TopK": _topk, "LSTM": onnx_rnn.lower, "GRU": onnx_rnn.lower,
    "If": onnx_control.lower_if,
}
IMPORTERS.update({"LogSoftmax": _softmax, "Hardmax": _softmax})

from . import onnx_conv_pool, onnx_math, onnx_quant, onnx_shape  # noqa: E402  (op families in their own modules)

IMPORTERS.update(onnx_conv_pool.IMPORTERS)
IMPORTERS.update(onnx_shape.IMPORTERS)
IMPORTERS.update(onnx_math.IMPORTERS)
IMPORTERS.update(onnx_quant.IMPORTERS)
IMPORTERS.update({op: _generic for op in ops.REGISTRY if op not in IMPORTERS})
