"""TFLite frontend: a .tflite flatbuffer → pymace IR (NCHW, ONNX op names).

Two phases. `_parse` reads the untrusted flatbuffer into plain records, checking every index and size against
the file; any exception the flatbuffer readers raise there means a malformed file and becomes one ModelError.
`_Importer` then maps each TFLite op to IR nodes, one function per op type (IMPORTERS).

Layout: TFLite is NHWC. In the IR every 4-d activation is NCHW; other tensors keep TFLite's layout. The graph's
input stays NHWC as the user feeds it (a Transpose follows it), and outputs keep TFLite's names, layout and order.
Where element order matters (RESHAPE of a feature map) the importer goes back to NHWC first, so results are
identical to TFLite's; the passes cancel Transposes that turn out redundant."""
from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass, field

import numpy as np
import tflite

from ..errors import ConvertError, ModelError, UnsupportedOpError
from ..ir.graph import Graph, Node, Tensor
from ..ops.geometry import same_pads  # TFLite SAME = ONNX SAME_UPPER

TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
_OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_DTYPES = {tflite.TensorType.FLOAT32: "<f4", tflite.TensorType.FLOAT16: "<f2", tflite.TensorType.INT32: "<i4",
           tflite.TensorType.INT64: "<i8", tflite.TensorType.INT8: "i1", tflite.TensorType.UINT8: "u1",
           tflite.TensorType.BOOL: "?"}
# fused_activation_function → (IR activation, params); SIGN_BIT has no IR equivalent.
_ACTIVATIONS = {0: (None, []), 1: ("Relu", []), 2: ("Clip", [-1.0, 1.0]), 3: ("Clip", [0.0, 6.0]),
                4: ("Tanh", [])}
# op type → (options class, fields read into TfOp.options)
_OPTIONS = {
    "CONV_2D": ("Conv2DOptions", ("Padding", "StrideW", "StrideH", "FusedActivationFunction",
                                  "DilationWFactor", "DilationHFactor")),
    "DEPTHWISE_CONV_2D": ("DepthwiseConv2DOptions", ("Padding", "StrideW", "StrideH", "DepthMultiplier",
                                                     "FusedActivationFunction", "DilationWFactor",
                                                     "DilationHFactor")),
    "MAX_POOL_2D": ("Pool2DOptions", ("Padding", "StrideW", "StrideH", "FilterWidth", "FilterHeight",
                                      "FusedActivationFunction")),
    "AVERAGE_POOL_2D": ("Pool2DOptions", ("Padding", "StrideW", "StrideH", "FilterWidth", "FilterHeight",
                                          "FusedActivationFunction")),
    "ADD": ("AddOptions", ("FusedActivationFunction",)),
    "SUB": ("SubOptions", ("FusedActivationFunction",)),
    "MUL": ("MulOptions", ("FusedActivationFunction",)),
    "CONCATENATION": ("ConcatenationOptions", ("Axis", "FusedActivationFunction")),
}


@dataclass
class TfTensor:
    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype string, "" for types pymace does not read
    data: np.ndarray | None  # constant contents


@dataclass
class TfOp:
    type: str
    inputs: list[int]  # -1: omitted optional input
    outputs: list[int]
    options: dict = field(default_factory=dict)


def load(path: str | os.PathLike) -> Graph:
    """Import a .tflite model. Malformed files raise ModelError, unsupported ops UnsupportedOpError."""
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except OSError as e:
        raise ModelError(f"cannot read {path}: {e.strerror}") from None
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelError(f"{path}: not a TFLite model (no TFL3 file identifier)")
    try:
        tensors, ops, inputs, outputs, meta = _parse(buf)
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from None
    except (struct.error, IndexError, ValueError, TypeError, AttributeError, UnicodeDecodeError,
            OverflowError, MemoryError, RecursionError) as e:
        raise ModelError(f"{path}: malformed TFLite flatbuffer ({type(e).__name__}: {str(e)[:80]})") from None
    meta.update(framework="tflite", source_file=str(path), source_sha256=hashlib.sha256(buf).hexdigest())
    return _Importer(tensors, ops, meta).run(inputs, outputs, os.path.splitext(os.path.basename(path))[0])


def _parse(buf: bytes):
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() < 1:
        raise ModelError("the model has no subgraph")
    sg = model.Subgraphs(0)
    buffers = [_buffer_data(buf, model.Buffers(i)) for i in range(model.BuffersLength())]
    tensors = [_tensor(sg.Tensors(i), buffers) for i in range(sg.TensorsLength())]
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())  # schema ≥ 2.4 moved codes > 127
        custom = oc.CustomCode()
        codes.append(f"CUSTOM:{custom.decode(errors='replace')}" if custom else _OP_NAMES.get(code, f"#{code}"))
    n = len(tensors)

    def indices(vec, allow_missing=False):
        idx = [int(v) for v in vec]
        if any(not (-int(allow_missing) <= v < n) for v in idx):
            raise ModelError(f"tensor index out of range in {idx[:8]}")
        return idx

    ops = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        if not 0 <= op.OpcodeIndex() < len(codes):
            raise ModelError(f"operator {i} has opcode index {op.OpcodeIndex()} of {len(codes)}")
        kind = codes[op.OpcodeIndex()]
        ins = indices([op.Inputs(j) for j in range(op.InputsLength())], allow_missing=True)
        outs = indices([op.Outputs(j) for j in range(op.OutputsLength())])
        ops.append(TfOp(kind, ins, outs, _options(op, kind)))
    inputs = indices([sg.Inputs(j) for j in range(sg.InputsLength())])
    outputs = indices([sg.Outputs(j) for j in range(sg.OutputsLength())])
    meta = {"tflite_schema_version": int(model.Version()),
            "description": (model.Description() or b"").decode(errors="replace"),
            "input_layout": "NHWC", "subgraphs": int(model.SubgraphsLength())}
    return tensors, ops, inputs, outputs, meta


def _buffer_data(buf: bytes, b) -> bytes:
    if b.Offset() > 1:  # data outside the flatbuffer (models > 2 GB): offset from the file's start
        start, size = b.Offset(), b.Size()
        if start + size > len(buf):
            raise ModelError(f"buffer at offset {start} of {size} bytes reaches past the file")
        return buf[start:start + size]
    return b.DataAsNumpy().tobytes() if b.DataLength() else b""


def _tensor(t, buffers: list[bytes]) -> TfTensor:
    name = (t.Name() or b"").decode(errors="replace")
    shape = tuple(int(t.Shape(j)) for j in range(t.ShapeLength()))
    if any(d < 0 for d in shape):
        raise ModelError(f"tensor {name!r} has shape {list(shape)}")
    dtype = _DTYPES.get(t.Type(), "")
    if not 0 <= t.Buffer() < max(len(buffers), 1):
        raise ModelError(f"tensor {name!r} refers to buffer {t.Buffer()} of {len(buffers)}")
    raw = buffers[t.Buffer()] if buffers else b""
    data = None
    if raw:
        count = int(np.prod(shape, dtype=np.int64))
        if not dtype or count * np.dtype(dtype).itemsize != len(raw):
            raise ModelError(f"constant {name!r}: {len(raw)} bytes do not hold {list(shape)} of type {t.Type()}")
        data = np.frombuffer(raw, dtype).reshape(shape)
    return TfTensor(name, shape, dtype, data)


def _options(op, kind: str) -> dict:
    if kind not in _OPTIONS:
        return {}
    cls_name, fields = _OPTIONS[kind]
    table = op.BuiltinOptions()
    opts = getattr(tflite, cls_name)()
    if table is None:
        raise ModelError(f"{kind} operator without its options")
    opts.Init(table.Bytes, table.Pos)
    out = {f: int(getattr(opts, f)()) for f in fields}
    if any(v < 1 for f, v in out.items() if f.startswith(("Stride", "Dilation", "Filter", "Depth"))):
        raise ModelError(f"{kind} operator with options {out}")
    if out.get("Padding", 0) not in (tflite.Padding.SAME, tflite.Padding.VALID):
        raise ModelError(f"{kind} operator with unknown padding {out['Padding']}")
    return out


class _Importer:
    def __init__(self, tensors: list[TfTensor], ops: list[TfOp], meta: dict):
        self.tf, self.ops, self.meta = tensors, ops, meta
        self.nodes: list[Node] = []
        self.tensors: dict[str, Tensor] = {}
        self.value: dict[int, str] = {}  # TFLite tensor → IR tensor holding it (NCHW when 4-d)
        self.consts: dict[int, np.ndarray] = {i: t.data for i, t in enumerate(tensors) if t.data is not None}
        self.names: dict[int, str] = {}
        self.reserved: set[str] = set()  # graph input/output names: taken before their tensors exist

    # ---- naming and bookkeeping ----
    def name(self, i: int) -> str:
        """A unique IR name for TFLite tensor i: its own name where that is free."""
        if i not in self.names:
            base = self.tf[i].name or f"tensor_{i}"
            taken = base in self.tensors or base in self.names.values()
            self.names[i] = f"{base}#{i}" if taken else base
        return self.names[i]

    def fresh(self, base: str) -> str:
        """A name no IR tensor has yet (TFLite tensors take theirs by `name` just before they are added)."""
        name, k = base, 1
        while name in self.tensors or name in self.reserved:
            name, k = f"{base}_{k}", k + 1
        return name

    def add(self, op_type: str, inputs: list[str], output: str, out_shape, /, **attrs) -> str:
        self.tensors[output] = Tensor(output, tuple(int(d) for d in out_shape))
        self.nodes.append(Node(output, op_type, inputs, [output], attrs))
        return output

    def const(self, data: np.ndarray, base: str) -> str:
        name = self.fresh(base)
        data = np.ascontiguousarray(data)
        self.tensors[name] = Tensor(name, tuple(data.shape), str(data.dtype), data)
        return name

    def is_4d(self, i: int) -> bool:
        return len(self.tf[i].shape) == 4

    def ir_shape(self, i: int) -> tuple[int, ...]:
        s = self.tf[i].shape
        return tuple(s[p] for p in TO_NCHW) if len(s) == 4 else s

    # ---- operands ----
    def act(self, i: int) -> str:
        """An operand in IR layout: an activation, or a constant made into one (NCHW when 4-d)."""
        if i in self.value:
            return self.value[i]
        if i in self.consts:
            data = self.consts[i].astype(np.float32) if self.consts[i].dtype.kind == "f" else self.consts[i]
            return self.const(data.transpose(TO_NCHW) if data.ndim == 4 else data, self.name(i))
        raise ModelError(f"tensor {self.tf[i].name!r} is read before any operator produces it")

    def const_of(self, i: int, what: str) -> np.ndarray:
        if i < 0 or i not in self.consts:
            raise ConvertError(f"{what} must be a constant (tensor {self.tf[i].name!r} is computed)")
        return self.consts[i]

    def as_nchw(self, i: int, rank: int) -> str:
        """Operand i broadcast-ready against a `rank`-d IR tensor: 4-d operands of lower rank get NHWC's
        leading 1s and then NCHW's order, as numpy broadcasting in NHWC would have aligned them."""
        if rank != 4 or self.is_4d(i):
            return self.act(i)
        shape = (1,) * (4 - len(self.tf[i].shape)) + self.tf[i].shape
        if i in self.consts:
            data = self.consts[i].astype(np.float32).reshape(shape).transpose(TO_NCHW)
            return self.const(data, self.name(i))
        x = self.add("Reshape", [self.act(i)], self.fresh(self.name(i) + "/4d"), shape, shape=list(shape))
        nchw = tuple(shape[p] for p in TO_NCHW)
        return self.add("Transpose", [x], self.fresh(self.name(i) + "/nchw"), nchw, perm=TO_NCHW)

    def out(self, op: TfOp, k: int = 0) -> str:
        """The IR name for op's output k (graph outputs that are 4-d get a Transpose back to NHWC later)."""
        i = op.outputs[k]
        name = self.name(i)
        return self.fresh(name + "/nchw") if self.is_4d(i) and i in self.graph_outputs else name

    def emit(self, op: TfOp, op_type: str, inputs: list[str], /, **attrs) -> None:
        i = op.outputs[0]
        self.value[i] = self.add(op_type, inputs, self.out(op), self.ir_shape(i), **attrs)

    def fused(self, op: TfOp) -> dict:
        code = op.options.get("FusedActivationFunction", 0)
        if code not in _ACTIVATIONS:
            raise ConvertError(f"{op.type} with fused activation {code} is not supported")
        act, params = _ACTIVATIONS[code]
        return {"activation": act, "activation_params": params} if act else {}

    def emit_then_activate(self, op: TfOp, op_type: str, inputs: list[str], /, **attrs) -> None:
        """For ops the IR gives no fused activation: the op, then its activation as a node of its own."""
        act = self.fused(op)
        if not act:
            return self.emit(op, op_type, inputs, **attrs)
        i, a, p = op.outputs[0], act["activation"], act["activation_params"]
        pre = self.add(op_type, inputs, self.fresh(self.name(i) + "/pre_act"), self.ir_shape(i), **attrs)
        self.emit(op, a, [pre], **({"min": p[0], "max": p[1]} if a == "Clip" else {}))

    # ---- driver ----
    def run(self, inputs: list[int], outputs: list[int], name: str) -> Graph:
        self.graph_outputs = set(outputs)
        self.reserved = {self.name(i) for i in inputs + outputs}
        missing: dict[str, list[str]] = {}
        for op in self.ops:
            if op.type not in IMPORTERS:
                missing.setdefault(op.type, []).append(self.tf[op.outputs[0]].name if op.outputs else "?")
        if missing:
            raise UnsupportedOpError(missing, list(IMPORTERS))
        for i in inputs:
            self.check_float(i)
            self.tensors[self.name(i)] = Tensor(self.name(i), self.tf[i].shape)
            self.value[i] = self.name(i)
            if self.is_4d(i):
                self.value[i] = self.add("Transpose", [self.name(i)], self.fresh(self.name(i) + "/nchw"),
                                         self.ir_shape(i), perm=TO_NCHW)
        for op in self.ops:
            arity = ARITY.get(op.type, 1)
            if len(op.inputs) < arity or -1 in op.inputs[:arity] or len(op.outputs) != 1:
                raise ModelError(f"{op.type} operator with inputs {op.inputs} and outputs {op.outputs}")
            if op.type != "DEQUANTIZE":
                self.check_float(op.outputs[0])
            IMPORTERS[op.type](self, op)
        for i in outputs:
            if i in self.value and self.is_4d(i):
                self.add("Transpose", [self.value[i]], self.name(i), self.tf[i].shape, perm=TO_NHWC)
            elif i not in self.value:
                raise ModelError(f"graph output {self.tf[i].name!r} is never computed")
        self.meta["tflite_ops"] = sorted({op.type for op in self.ops})
        graph = Graph(name, self.nodes, self.tensors, [self.name(i) for i in inputs],
                      [self.name(i) for i in outputs], self.meta)
        graph.verify()
        return graph

    def check_float(self, i: int) -> None:
        if self.tf[i].dtype != "<f4":
            raise ConvertError(f"tensor {self.tf[i].name!r} is not float32: quantised and integer TFLite "
                               "models are not supported")


# ---- one importer per TFLite op type ----

def _conv(imp: _Importer, op: TfOp) -> None:
    x, w_i = op.inputs[0], op.inputs[1]
    w = imp.const_of(w_i, f"{op.type} weights").astype(np.float32)
    if not imp.is_4d(x) or w.ndim != 4:
        raise ConvertError(f"{op.type} {imp.tf[op.outputs[0]].name!r}: expects a 4-d input and weights")
    depthwise = op.type == "DEPTHWISE_CONV_2D"
    # OHWI → OIHW; depthwise 1HW(C·M) → (C·M)1HW, which is ONNX's grouped conv with one group per channel
    w = w.transpose(3, 0, 1, 2) if depthwise else w.transpose(0, 3, 1, 2)
    o = op.options
    k, s, d = list(w.shape[2:]), [o["StrideH"], o["StrideW"]], [o["DilationHFactor"], o["DilationWFactor"]]
    pads = same_pads(imp.tf[x].shape[1:3], k, s, d) if o["Padding"] == tflite.Padding.SAME else [0] * 4
    ins = [imp.act(x), imp.const(w, imp.name(w_i))]
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        ins.append(imp.const(imp.const_of(op.inputs[2], "bias").astype(np.float32), imp.name(op.inputs[2])))
    group = imp.tf[x].shape[3] if depthwise else 1
    imp.emit(op, "Conv", ins, kernel_shape=k, strides=s, pads=pads, dilations=d, group=group, **imp.fused(op))


def _pool(imp: _Importer, op: TfOp) -> None:
    x, o = op.inputs[0], op.options
    k, s = [o["FilterHeight"], o["FilterWidth"]], [o["StrideH"], o["StrideW"]]
    pads = same_pads(imp.tf[x].shape[1:3], k, s, [1, 1]) if o["Padding"] == tflite.Padding.SAME else [0] * 4
    if op.type == "MAX_POOL_2D":
        imp.emit_then_activate(op, "MaxPool", [imp.act(x)], kernel_shape=k, strides=s, pads=pads,
                               dilations=[1, 1], ceil_mode=0)
    else:  # TFLite averages over the valid pixels only
        imp.emit_then_activate(op, "AveragePool", [imp.act(x)], kernel_shape=k, strides=s, pads=pads,
                               ceil_mode=0, count_include_pad=0)


def _binary(imp: _Importer, op: TfOp) -> None:
    rank = len(imp.tf[op.outputs[0]].shape)
    ins = [imp.as_nchw(i, rank) for i in op.inputs[:2]]
    imp.emit(op, {"ADD": "Add", "SUB": "Sub", "MUL": "Mul"}[op.type], ins, **imp.fused(op))


def _unary(imp: _Importer, op: TfOp) -> None:
    op_type, attrs = {"RELU": ("Relu", {}), "RELU6": ("Clip", {"min": 0.0, "max": 6.0}),
                      "LOGISTIC": ("Sigmoid", {}), "TANH": ("Tanh", {})}[op.type]
    imp.emit(op, op_type, [imp.act(op.inputs[0])], **attrs)


def _pad(imp: _Importer, op: TfOp) -> None:
    x = op.inputs[0]
    p = imp.const_of(op.inputs[1], "PAD paddings").astype(np.int64)
    if p.shape != (len(imp.tf[x].shape), 2):
        raise ModelError(f"PAD {imp.tf[op.outputs[0]].name!r}: paddings of shape {list(p.shape)}")
    if imp.is_4d(x):
        p = p[TO_NCHW]
    imp.emit(op, "Pad", [imp.act(x)], pads=[int(v) for v in p[:, 0]] + [int(v) for v in p[:, 1]],
             mode="constant", value=0.0)


def _reshape(imp: _Importer, op: TfOp) -> None:
    """Reshape in TFLite's own (NHWC) element order: back to NHWC, reshape, and on to NCHW if 4-d again."""
    x, y = op.inputs[0], op.outputs[0]
    shape = imp.tf[y].shape
    if np.prod(shape, dtype=np.int64) != np.prod(imp.tf[x].shape, dtype=np.int64):
        raise ModelError(f"RESHAPE {imp.tf[y].name!r}: {list(imp.tf[x].shape)} cannot become {list(shape)}")
    src = imp.act(x)
    if imp.is_4d(x):
        src = imp.add("Transpose", [src], imp.fresh(imp.name(x) + "/nhwc"), imp.tf[x].shape, perm=TO_NHWC)
    if len(shape) != 4:
        imp.emit(op, "Reshape", [src], shape=list(shape))
        return
    r = imp.add("Reshape", [src], imp.fresh(imp.name(y) + "/nhwc"), shape, shape=list(shape))
    imp.emit(op, "Transpose", [r], perm=TO_NCHW)


def _concat(imp: _Importer, op: TfOp) -> None:
    rank = len(imp.tf[op.outputs[0]].shape)
    if not -rank <= op.options["Axis"] < rank:
        raise ModelError(f"CONCATENATION axis {op.options['Axis']} for a {rank}-d output")
    axis = op.options["Axis"] % rank
    ins = [imp.as_nchw(i, rank) for i in op.inputs]
    imp.emit_then_activate(op, "Concat", ins, axis=TO_NCHW.index(axis) if rank == 4 else axis)


def _dequantize(imp: _Importer, op: TfOp) -> None:
    """fp16 weights + DEQUANTIZE: folded here into fp32 constants (weights only; activations stay fp32)."""
    x = imp.const_of(op.inputs[0], "DEQUANTIZE input")
    if x.dtype != np.float16:
        raise ConvertError(f"DEQUANTIZE of {x.dtype} (a quantised model) is not supported; fp16 weights are")
    imp.consts[op.outputs[0]] = x.astype(np.float32)


IMPORTERS = {"CONV_2D": _conv, "DEPTHWISE_CONV_2D": _conv, "MAX_POOL_2D": _pool, "AVERAGE_POOL_2D": _pool,
             "ADD": _binary, "SUB": _binary, "MUL": _binary, "RELU": _unary, "RELU6": _unary,
             "LOGISTIC": _unary, "TANH": _unary, "PAD": _pad, "RESHAPE": _reshape, "CONCATENATION": _concat,
             "DEQUANTIZE": _dequantize}
ARITY = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "ADD": 2, "SUB": 2, "MUL": 2, "PAD": 2}  # required inputs
