"""TFLite frontend: a .tflite flatbuffer → pymace IR (NCHW, ONNX op names).

Two phases. `tflite_reader.parse` reads the untrusted flatbuffer into plain records; any exception the flatbuffer
readers raise there means a malformed file and becomes one ModelError. `_Importer` then maps each TFLite op to IR
nodes, one function per op type (this module's core ops; tflite_ops, tflite_tensor_ops and tflite_quant hold the
rest). An op whose inputs are all constants is evaluated at import (shape arithmetic), so integer tensors never
reach the graph.

Layout: TFLite is NHWC. In the IR every 4-d activation is NCHW; other tensors keep TFLite's layout. The graph's
input stays NHWC as the user feeds it (a Transpose follows it), and outputs keep TFLite's names, layout and order.
Where element order matters (RESHAPE of a feature map) the importer goes back to NHWC first, so results are
identical to TFLite's; the passes cancel Transposes that turn out redundant.

Quantized models (int8/uint8 tensors with scales and zero points) compute in float: constant weights are
dequantized here, and each quantized activation holds its real value. With `quantized_activations="fake_quant"`
(the default) every op output that the int8 runtime requantizes goes through QuantizeLinear → DequantizeLinear,
so values sit on the same grid as LiteRT's; "float" skips that (see tflite_quant)."""
from __future__ import annotations

import hashlib
import os
import struct

import numpy as np
import tflite

from ..errors import ConvertError, ModelError, UnsupportedOpError
from ..ir.graph import Graph, Node, Tensor
from ..ops.geometry import same_pads  # TFLite SAME = ONNX SAME_UPPER
from ..safe_io import read_bounded
from . import tflite_control, tflite_quant, tflite_shapes
from .tflite_reader import TfOp, TfSubgraph, TfTensor, parse

MAX_TFLITE_BYTES = 2 << 30  # a flatbuffer's 32-bit offsets: no .tflite is larger

TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
# fused_activation_function → (IR activation, params); SIGN_BIT has no IR equivalent.
_ACTIVATIONS = {0: (None, []), 1: ("Relu", []), 2: ("Clip", [-1.0, 1.0]), 3: ("Clip", [0.0, 6.0]),
                4: ("Tanh", [])}
ACTIVATION_MODES = ("fake_quant", "float")


def load(path: str | os.PathLike, quantized_activations: str = "fake_quant",
         input_shapes: dict[str, list[int]] | None = None) -> Graph:
    """Import a .tflite model. Malformed files raise ModelError, unsupported ops UnsupportedOpError.
    `input_shapes` (input name → shape) sets inputs whose shape_signature has -1 dims; others keep the file's."""
    if quantized_activations not in ACTIVATION_MODES:
        raise ConvertError(f"quantized_activations must be one of {ACTIVATION_MODES}")
    try:  # a FIFO blocked here and /dev/zero grew without bound: regular files of at most 2 GiB only
        buf = read_bounded(path, MAX_TFLITE_BYTES)
    except OSError as e:
        raise ModelError(f"cannot read {path}: {e.strerror}") from None
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelError(f"{path}: not a TFLite model (no TFL3 file identifier)")
    try:
        tensors, subgraphs, meta = parse(buf)
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from None
    except (struct.error, IndexError, ValueError, TypeError, AttributeError, UnicodeDecodeError,
            OverflowError, MemoryError, RecursionError) as e:
        raise ModelError(f"{path}: malformed TFLite flatbuffer ({type(e).__name__}: {str(e)[:80]})") from None
    meta.update(framework="tflite", source_file=str(path), source_sha256=hashlib.sha256(buf).hexdigest())
    imp = _Importer(tensors, subgraphs, meta, quantized_activations)
    return imp.run(dict(input_shapes or {}), os.path.splitext(os.path.basename(path))[0])


def nchw_axis(axis: int, rank: int) -> int:
    """Where TFLite's axis `axis` of a `rank`-d tensor sits in the IR layout (NCHW when 4-d)."""
    if not -rank <= axis < rank:
        raise ModelError(f"axis {axis} for a {rank}-d tensor")
    return TO_NCHW.index(axis % rank) if rank == 4 else axis % rank


def importers() -> dict:
    """Every TFLite op type pymace imports, and its importer."""
    from . import tflite_mediapipe, tflite_ops, tflite_tensor_ops

    return {**IMPORTERS, **tflite_ops.IMPORTERS, **tflite_tensor_ops.IMPORTERS, **tflite_quant.IMPORTERS,
            **tflite_control.IMPORTERS, **tflite_mediapipe.IMPORTERS}


class _Importer:
    def __init__(self, tensors: list[TfTensor], subgraphs: list[TfSubgraph], meta: dict, activations: str):
        self.tf, self.subgraphs, self.meta, self.activations = tensors, subgraphs, meta, activations
        self.ops = subgraphs[0].ops
        self.file_shapes = {i: t.shape for i, t in enumerate(tensors)}
        self.dynamic = False  # an input was given a shape other than the file's: shapes are recomputed
        self.inlined: set[int] = set()  # subgraphs imported as IF branches
        self.nodes: list[Node] = []
        self.tensors: dict[str, Tensor] = {}
        self.value: dict[int, str] = {}  # TFLite tensor → IR tensor holding it (NCHW when 4-d)
        self.consts: dict[int, np.ndarray] = {i: t.data for i, t in enumerate(tensors) if t.data is not None}
        self.names: dict[int, str] = {}
        self.reserved: set[str] = set()  # graph input/output names: taken before their tensors exist
        self.requant: dict[int, str] = {}  # outputs of the op being imported that get fake-quantized → final name
        self.quant_consts: dict[tuple, list[str]] = {}  # (scale, zero point, dtype) → their IR constants
        self.importers = importers()

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

    def add(self, op_type: str, inputs: list[str], output: str, out_shape, /, dtype="float32", **attrs) -> str:
        self.tensors[output] = Tensor(output, tuple(int(d) for d in out_shape), dtype)
        self.nodes.append(Node(output, op_type, inputs, [output], attrs))
        return output

    def add_multi(self, op_type: str, inputs: list[str], outputs: list[tuple[str, tuple]], /, **attrs) -> None:
        for name, shape in outputs:
            self.tensors[name] = Tensor(name, tuple(int(d) for d in shape))
        self.nodes.append(Node(outputs[0][0], op_type, inputs, [n for n, _ in outputs], attrs))

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

    def op_name(self, op: TfOp) -> str:
        return self.tf[op.outputs[0]].name if op.outputs else op.type

    # ---- operands ----
    def float_const(self, i: int) -> np.ndarray:
        """Constant i as float32 in TFLite layout: quantized integers dequantized, fp16 widened."""
        data, q = self.consts[i], self.tf[i].quant
        if q is not None and data.dtype.kind in "iu":
            return tflite_quant.dequantize(data, q)
        return data.astype(np.float32) if data.dtype.kind == "f" else data

    def act(self, i: int) -> str:
        """An operand in IR layout: an activation, or a constant made into one (NCHW when 4-d)."""
        if i in self.value:
            return self.value[i]
        if i in self.consts:
            data = self.float_const(i)
            return self.const(data.transpose(TO_NCHW) if data.ndim == 4 else data, self.name(i))
        raise ModelError(f"tensor {self.tf[i].name!r} is read before any operator produces it")

    def const_of(self, i: int, what: str) -> np.ndarray:
        if i < 0 or i not in self.consts:
            raise ConvertError(f"{what} must be a constant (tensor {self.tf[i].name!r} is computed)")
        return self.consts[i]

    def weights(self, i: int, what: str) -> np.ndarray:
        """A constant operand as float32 in TFLite layout (dequantized when quantized)."""
        self.const_of(i, what)
        return self.float_const(i).astype(np.float32)

    def ints(self, i: int, what: str) -> list[int]:
        return [int(v) for v in np.asarray(self.const_of(i, what)).reshape(-1)]

    def as_nchw(self, i: int, rank: int) -> str:
        """Operand i broadcast-ready against a `rank`-d IR tensor: 4-d operands of lower rank get NHWC's
        leading 1s and then NCHW's order, as numpy broadcasting in NHWC would have aligned them."""
        if rank != 4 or self.is_4d(i):
            return self.act(i)
        shape = (1,) * (4 - len(self.tf[i].shape)) + self.tf[i].shape
        if i in self.consts:
            data = self.float_const(i).reshape(shape).transpose(TO_NCHW)
            return self.const(data, self.name(i))
        x = self.add("Reshape", [self.act(i)], self.fresh(self.name(i) + "/4d"), shape, shape=list(shape))
        nchw = tuple(shape[p] for p in TO_NCHW)
        return self.add("Transpose", [x], self.fresh(self.name(i) + "/nchw"), nchw, perm=TO_NCHW)

    def tf_view(self, i: int) -> str:
        """Operand i in TFLite's own layout (a Transpose back to NHWC for 4-d tensors)."""
        x = self.act(i)
        if not self.is_4d(i):
            return x
        return self.add("Transpose", [x], self.fresh(self.name(i) + "/nhwc"), self.tf[i].shape, perm=TO_NHWC)

    # ---- results ----
    def out(self, op: TfOp, k: int = 0) -> str:
        """The IR name for op's output k (graph outputs that are 4-d get a Transpose back to NHWC later)."""
        i = op.outputs[k]
        name = self.name(i)
        if i in self.graph_outputs and (self.is_4d(i) or self.tf[i].dtype in ("i1", "u1")):
            name = self.fresh(name + ("/nchw" if self.is_4d(i) else "/value"))
        if self.wants_requant(op, i):
            self.requant[i] = name
            return self.fresh(name + "/float")
        return name

    def wants_requant(self, op: TfOp, i: int) -> bool:
        t = self.tf[i]
        if self.activations != "fake_quant" or t.quant is None or t.dtype not in ("i1", "u1"):
            return False
        grids = [self.tf[j].quant for j in op.inputs if j >= 0 and tflite_quant.is_quantized(self.tf[j])]
        return not (op.type in tflite_quant.TRANSPARENT and grids and all(t.quant.same_as(g) for g in grids))

    def emit(self, op: TfOp, op_type: str, inputs: list[str], /, **attrs) -> None:
        i = op.outputs[0]
        self.value[i] = self.add(op_type, inputs, self.out(op), self.ir_shape(i), **attrs)

    def emit_tf(self, op: TfOp, op_type: str, inputs: list[str], k: int = 0, /, **attrs) -> None:
        """Emit a node computing output k in TFLite's layout, then a Transpose to NCHW when it is 4-d."""
        i = op.outputs[k]
        if not self.is_4d(i):
            self.value[i] = self.add(op_type, inputs, self.out(op, k), self.tf[i].shape, **attrs)
            return
        y = self.add(op_type, inputs, self.fresh(self.name(i) + "/nhwc"), self.tf[i].shape, **attrs)
        self.to_ir(op, k, y)

    def to_ir(self, op: TfOp, k: int, nhwc: str) -> None:
        """Output k, computed in TFLite's layout as `nhwc`, into the IR layout."""
        i = op.outputs[k]
        self.value[i] = self.add("Transpose", [nhwc], self.out(op, k), self.ir_shape(i), perm=TO_NCHW) \
            if self.is_4d(i) else self.add("Identity", [nhwc], self.out(op, k), self.tf[i].shape)

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
    def run(self, input_shapes: dict, name: str) -> Graph:
        inputs, outputs = self.subgraphs[0].inputs, self.subgraphs[0].outputs
        self.graph_outputs = set(outputs)
        self.reserved = {self.name(i) for i in inputs + outputs}
        missing: dict[str, list[str]] = {}
        for op in (op for sg in self.subgraphs for op in sg.ops):
            if op.type not in self.importers:
                missing.setdefault(op.type, []).append(self.op_name(op) if op.outputs else "?")
        if missing:
            raise UnsupportedOpError(missing, list(self.importers))
        shapes = tflite_control.input_shapes(self, input_shapes)
        for i in inputs:
            self.add_input(i, shapes[i])
        for op in self.ops:
            self.import_op(op)
        for i in outputs:
            self.add_output(i)
        self.meta["tflite_ops"] = sorted({op.type for sg in self.subgraphs for op in sg.ops})
        graph = Graph(name, self.nodes, self.tensors, [self.name(i) for i in inputs],
                      [self.name(i) for i in outputs], self.meta)
        graph.verify()
        return graph

    def import_op(self, op: TfOp) -> None:
        arity = ARITY.get(op.type, 1)
        if len(op.inputs) < arity or -1 in op.inputs[:arity] or not op.outputs:
            raise ModelError(f"{op.type} operator with inputs {op.inputs} and outputs {op.outputs}")
        first = len(self.nodes)
        self.requant = {}
        if self.dynamic:
            tflite_shapes.update(self, op)
        self.importers[op.type](self, op)
        if all(i < 0 or i in self.consts for i in op.inputs) and any(o not in self.consts for o in op.outputs):
            return self.fold(op, first)
        for i in op.outputs:
            if i not in self.consts:
                self.check_activation(i)
            if i in self.requant:
                self.value[i] = tflite_quant.fake_quant(self, self.value[i], i, self.requant[i])

    def fold(self, op: TfOp, first: int) -> None:
        """An op of constant inputs (shape arithmetic): evaluate the nodes it became, keep its outputs as
        constants in TFLite's layout."""
        from ..reference import executor

        nodes, self.nodes = self.nodes[first:], self.nodes[:first]
        wanted = [self.value[i] for i in op.outputs]
        sub = Graph("fold", nodes, self.tensors, [], wanted)
        values = executor.run(sub, {})
        for i, v in zip(op.outputs, (values[w] for w in wanted)):
            self.consts[i] = v.transpose(TO_NHWC) if v.ndim == 4 else v
            del self.value[i]
        for n in nodes:
            for o in n.outputs:
                self.tensors.pop(o, None)

    def add_input(self, i: int, shape: tuple[int, ...]) -> None:
        t = self.tf[i]
        if shape != t.shape:
            t.shape, self.dynamic = shape, True
        if t.dtype != "<f4" and not tflite_quant.is_quantized(t):
            raise ConvertError(f"input {t.name!r} is {t.dtype or 'of an unknown type'}: pymace takes float32 "
                               "and quantized int8/uint8 inputs")
        self.tensors[self.name(i)] = Tensor(self.name(i), t.shape, "float32" if t.dtype == "<f4" else
                                            str(np.dtype(t.dtype)))
        self.value[i] = self.name(i)
        if t.dtype != "<f4":
            self.value[i] = tflite_quant.dequantize_input(self, i)
        if self.is_4d(i):
            self.value[i] = self.add("Transpose", [self.value[i]], self.fresh(self.name(i) + "/nchw"),
                                     self.ir_shape(i), perm=TO_NCHW)

    def add_output(self, i: int) -> None:
        if i not in self.value:
            if i in self.consts:
                raise ConvertError(f"graph output {self.tf[i].name!r} is a constant")
            raise ModelError(f"graph output {self.tf[i].name!r} is never computed")
        t, src = self.tf[i], self.value[i]
        quantized = t.dtype in ("i1", "u1")
        final = self.fresh(self.name(i) + "/float") if quantized else self.name(i)
        if self.is_4d(i):
            src = self.add("Transpose", [src], final, t.shape, perm=TO_NHWC)
        elif src != self.name(i) and not quantized:
            src = self.add("Identity", [src], final, t.shape)
        if quantized:
            tflite_quant.quantize_output(self, src, i)

    def check_activation(self, i: int) -> None:
        t = self.tf[i]
        if t.dtype not in ("<f4", "?") and not tflite_quant.is_quantized(t):
            raise ConvertError(f"tensor {t.name!r} is {t.dtype or 'of an unknown type'} and computed at run "
                               "time: pymace runs float32, bool and quantized int8/uint8 activations")


# ---- the core importers (the rest: tflite_ops, tflite_tensor_ops, tflite_quant) ----

def _conv(imp: _Importer, op: TfOp) -> None:
    x, w_i = op.inputs[0], op.inputs[1]
    w = imp.weights(w_i, f"{op.type} weights")
    if not imp.is_4d(x) or w.ndim != 4:
        raise ConvertError(f"{op.type} {imp.op_name(op)!r}: expects a 4-d input and weights")
    depthwise = op.type == "DEPTHWISE_CONV_2D"
    # OHWI → OIHW; depthwise 1HW(C·M) → (C·M)1HW, which is ONNX's grouped conv with one group per channel
    w = w.transpose(3, 0, 1, 2) if depthwise else w.transpose(0, 3, 1, 2)
    o = op.options
    k, s, d = list(w.shape[2:]), [o["StrideH"], o["StrideW"]], [o["DilationHFactor"], o["DilationWFactor"]]
    pads = same_pads(imp.tf[x].shape[1:3], k, s, d) if o["Padding"] == tflite.Padding.SAME else [0] * 4
    ins = [imp.act(x), imp.const(w, imp.name(w_i))]
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        ins.append(imp.const(imp.weights(op.inputs[2], "bias"), imp.name(op.inputs[2])))
    c_in = imp.tf[x].shape[3]
    group = c_in if depthwise else c_in // max(w.shape[1], 1)  # grouped CONV_2D: filters see C / groups
    if group < 1 or c_in != group * (1 if depthwise else w.shape[1]):
        raise ConvertError(f"{op.type} {imp.op_name(op)!r}: {c_in} input channels for weights {list(w.shape)}")
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
    imp.emit(op, {"ADD": "Add", "SUB": "Sub", "MUL": "Mul", "DIV": "Div"}[op.type], ins, **imp.fused(op))


def _unary(imp: _Importer, op: TfOp) -> None:
    op_type, attrs = {"RELU": ("Relu", {}), "RELU6": ("Clip", {"min": 0.0, "max": 6.0}),
                      "RELU_N1_TO_1": ("Clip", {"min": -1.0, "max": 1.0}), "LOGISTIC": ("Sigmoid", {}),
                      "TANH": ("Tanh", {}), "HARD_SWISH": ("HardSwish", {})}[op.type]
    imp.emit(op, op_type, [imp.act(op.inputs[0])], **attrs)


def _pad(imp: _Importer, op: TfOp) -> None:
    x = op.inputs[0]
    p = np.asarray(imp.const_of(op.inputs[1], "PAD paddings")).astype(np.int64)
    if p.shape != (len(imp.tf[x].shape), 2) or np.any(p < 0):
        raise ModelError(f"PAD {imp.op_name(op)!r}: paddings {p.tolist()} for {list(imp.tf[x].shape)}")
    if imp.is_4d(x):
        p = p[TO_NCHW]
    value = 0.0
    if len(op.inputs) > 2 and op.inputs[2] >= 0:  # PADV2: a constant value (quantized: its real value)
        value = float(imp.weights(op.inputs[2], "PADV2 value").reshape(-1)[0])
    elif imp.tf[x].quant is not None and imp.tf[x].dtype in ("i1", "u1"):
        value = 0.0  # TFLite pads quantized tensors with the zero point, whose real value is 0
    imp.emit(op, "Pad", [imp.act(x)], pads=[int(v) for v in p[:, 0]] + [int(v) for v in p[:, 1]],
             mode="constant", value=value)


def reshape_to(imp: _Importer, op: TfOp, x: int, k: int = 0) -> None:
    """Output k as input x reshaped, in TFLite's own (NHWC) element order: back to NHWC, reshape, and on to
    NCHW if 4-d again."""
    y = op.outputs[k]
    shape = imp.tf[y].shape
    if np.prod(shape, dtype=np.int64) != np.prod(imp.tf[x].shape, dtype=np.int64):
        raise ModelError(f"{op.type} {imp.tf[y].name!r}: {list(imp.tf[x].shape)} cannot become {list(shape)}")
    src = imp.tf_view(x)
    if len(shape) != 4:
        imp.value[y] = imp.add("Reshape", [src], imp.out(op, k), shape, shape=list(shape))
        return
    r = imp.add("Reshape", [src], imp.fresh(imp.name(y) + "/nhwc"), shape, shape=list(shape))
    imp.to_ir(op, k, r)


def _reshape(imp: _Importer, op: TfOp) -> None:
    reshape_to(imp, op, op.inputs[0])


def _concat(imp: _Importer, op: TfOp) -> None:
    rank = len(imp.tf[op.outputs[0]].shape)
    axis = nchw_axis(op.options.get("Axis", 0), rank)
    ins = [imp.as_nchw(i, rank) for i in op.inputs]
    imp.emit_then_activate(op, "Concat", ins, axis=axis)


IMPORTERS = {"CONV_2D": _conv, "DEPTHWISE_CONV_2D": _conv, "MAX_POOL_2D": _pool, "AVERAGE_POOL_2D": _pool,
             "ADD": _binary, "SUB": _binary, "MUL": _binary, "DIV": _binary, "RELU": _unary, "RELU6": _unary,
             "RELU_N1_TO_1": _unary, "LOGISTIC": _unary, "TANH": _unary, "HARD_SWISH": _unary, "PAD": _pad,
             "PADV2": _pad, "RESHAPE": _reshape, "SQUEEZE": _reshape, "EXPAND_DIMS": _reshape,
             "CONCATENATION": _concat}
ARITY = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "ADD": 2, "SUB": 2, "MUL": 2, "DIV": 2, "PAD": 2, "PADV2": 2,
         "FULLY_CONNECTED": 2, "TRANSPOSE_CONV": 3, "RESIZE_BILINEAR": 2, "RESIZE_NEAREST_NEIGHBOR": 2,
         "MEAN": 2, "SUM": 2, "REDUCE_MAX": 2, "REDUCE_MIN": 2, "REDUCE_PROD": 2, "STRIDED_SLICE": 4, "SLICE": 3,
         "GATHER": 2, "SPLIT": 2, "SPLIT_V": 3, "TRANSPOSE": 2, "BATCH_MATMUL": 2, "PRELU": 2, "MAXIMUM": 2,
         "MINIMUM": 2, "SQUARED_DIFFERENCE": 2, "CUSTOM:Convolution2DTransposeBias": 3, "GREATER": 2,
         "GREATER_EQUAL": 2, "LESS": 2, "LESS_EQUAL": 2, "EQUAL": 2, "NOT_EQUAL": 2, "LOGICAL_AND": 2,
         "LOGICAL_OR": 2, "SELECT": 3, "SELECT_V2": 3, "IF": 1, "CUSTOM:TransformTensorBilinear": 2,
         "CUSTOM:TransformLandmarks": 2}  # required inputs
