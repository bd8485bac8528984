"""Reads an untrusted .tflite flatbuffer into plain records (TfTensor, TfOp), checking every index and size
against the file. Any exception the flatbuffer readers raise here means a malformed file; `tflite.load` turns it
into one ModelError. Sparse constants are densified here (tflite_sparse), so importers only ever see dense data."""
from __future__ import annotations

from dataclasses import dataclass, field

import flatbuffers
import numpy as np
import tflite

from ..errors import ModelError
from . import tflite_sparse

OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
DTYPES = {tflite.TensorType.FLOAT32: "<f4", tflite.TensorType.FLOAT16: "<f2", tflite.TensorType.INT32: "<i4",
          tflite.TensorType.INT64: "<i8", tflite.TensorType.INT8: "i1", tflite.TensorType.UINT8: "u1",
          tflite.TensorType.INT16: "<i2", tflite.TensorType.BOOL: "?"}
_CONV = ("Padding", "StrideW", "StrideH", "FusedActivationFunction", "DilationWFactor", "DilationHFactor")
_POOL = ("Padding", "StrideW", "StrideH", "FilterWidth", "FilterHeight", "FusedActivationFunction")
_ACT = ("FusedActivationFunction",)
_RESIZE = ("AlignCorners", "HalfPixelCenters")
# op type → (options class, fields read into TfOp.options; "[]" marks a vector field)
OPTIONS = {
    "CONV_2D": ("Conv2DOptions", _CONV),
    "DEPTHWISE_CONV_2D": ("DepthwiseConv2DOptions", _CONV + ("DepthMultiplier",)),
    "MAX_POOL_2D": ("Pool2DOptions", _POOL), "AVERAGE_POOL_2D": ("Pool2DOptions", _POOL),
    "ADD": ("AddOptions", _ACT), "SUB": ("SubOptions", _ACT), "MUL": ("MulOptions", _ACT),
    "DIV": ("DivOptions", _ACT),
    "CONCATENATION": ("ConcatenationOptions", ("Axis",) + _ACT),
    "FULLY_CONNECTED": ("FullyConnectedOptions", _ACT + ("WeightsFormat", "KeepNumDims")),
    "RESIZE_BILINEAR": ("ResizeBilinearOptions", _RESIZE),
    "RESIZE_NEAREST_NEIGHBOR": ("ResizeNearestNeighborOptions", _RESIZE),
    **{k: ("ReducerOptions", ("KeepDims",)) for k in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD")},
    "STRIDED_SLICE": ("StridedSliceOptions", ("BeginMask", "EndMask", "EllipsisMask", "NewAxisMask",
                                              "ShrinkAxisMask", "Offset")),
    "DEPTH_TO_SPACE": ("DepthToSpaceOptions", ("BlockSize",)),
    "SPACE_TO_DEPTH": ("SpaceToDepthOptions", ("BlockSize",)),
    "TRANSPOSE_CONV": ("TransposeConvOptions", ("Padding", "StrideW", "StrideH") + _ACT),
    "SOFTMAX": ("SoftmaxOptions", ("Beta",)),
    "LEAKY_RELU": ("LeakyReluOptions", ("Alpha",)),
    "GATHER": ("GatherOptions", ("Axis", "BatchDims")),
    "SPLIT": ("SplitOptions", ("NumSplits",)), "SPLIT_V": ("SplitVOptions", ("NumSplits",)),
    "PACK": ("PackOptions", ("ValuesCount", "Axis")), "UNPACK": ("UnpackOptions", ("Num", "Axis")),
    "SQUEEZE": ("SqueezeOptions", ("SqueezeDims[]",)),
    "BATCH_MATMUL": ("BatchMatMulOptions", ("AdjX", "AdjY")),
    "RESHAPE": ("ReshapeOptions", ("NewShape[]",)),
    "IF": ("IfOptions", ("ThenSubgraphIndex", "ElseSubgraphIndex")),
}
REQUIRED_OPTIONS = {"CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "TRANSPOSE_CONV",
                    "DEPTH_TO_SPACE", "SPACE_TO_DEPTH"}  # no usable default (a stride or block size of 0)


@dataclass
class Quant:
    """Affine quantization of a tensor: real = (q - zero_point) * scale, per element of `axis` when the
    vectors hold more than one value."""

    scale: np.ndarray  # float32
    zero_point: np.ndarray  # int64, same length as scale
    axis: int

    def same_as(self, other: Quant | None) -> bool:
        return other is not None and self.axis == other.axis and np.array_equal(self.scale, other.scale) \
            and np.array_equal(self.zero_point, other.zero_point)


@dataclass
class TfTensor:
    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype string, "" for types pymace does not read
    data: np.ndarray | None  # constant contents (dense)
    quant: Quant | None = None
    signature: tuple[int, ...] | None = None  # shape_signature: -1 marks a dim the model takes at any size


@dataclass
class TfOp:
    type: str
    inputs: list[int]  # -1: omitted optional input
    outputs: list[int]
    options: dict = field(default_factory=dict)
    custom_options: bytes = b""
    version: int = 1  # the operator code's version (custom ops with several versions tell them apart by it)


@dataclass
class TfSubgraph:
    """One subgraph: its operators and its input and output tensors (indices into the model-wide tensor list)."""

    name: str
    ops: list[TfOp]
    inputs: list[int]
    outputs: list[int]


def parse(buf: bytes):
    """(tensors, subgraphs, metadata): every subgraph's tensors in one list (subgraph k's after those of the
    subgraphs before it, its operators' indices shifted to match); subgraph 0 is the model, others are the
    branches and bodies of control-flow operators (IF)."""
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() < 1:
        raise ModelError("the model has no subgraph")
    buffers = [_buffer_data(buf, model.Buffers(i)) for i in range(model.BuffersLength())]
    budget = [16 * len(buf) + (64 << 20)]  # bytes that densified sparse constants may take, all together
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(_builtin_code(oc), oc.DeprecatedBuiltinCode())  # LiteRT's GetBuiltinCode
        custom = oc.CustomCode()
        name = f"CUSTOM:{custom.decode(errors='replace')}" if custom else OP_NAMES.get(code, f"#{code}")
        codes.append((name, int(oc.Version())))
    tensors: list[TfTensor] = []
    subgraphs = []
    for k in range(model.SubgraphsLength()):
        sg = model.Subgraphs(k)
        first = len(tensors)
        tensors += [_tensor(sg.Tensors(i), buffers, budget) for i in range(sg.TensorsLength())]
        subgraphs.append(_subgraph(sg, codes, first, len(tensors) - first))
    meta = {"tflite_schema_version": int(model.Version()),
            "description": (model.Description() or b"").decode(errors="replace"),
            "input_layout": "NHWC", "subgraphs": int(model.SubgraphsLength())}
    return tensors, subgraphs, meta


def _subgraph(sg, codes: list[tuple[str, int]], first: int, n: int) -> TfSubgraph:
    def indices(vec, allow_missing=False):
        idx = [int(v) for v in vec]
        if any(not (-int(allow_missing) <= v < n) for v in idx):
            raise ModelError(f"tensor index out of range in {idx[:8]}")
        return [v + first if v >= 0 else v for v in idx]

    ops = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        if not 0 <= op.OpcodeIndex() < len(codes):
            raise ModelError(f"operator {i} has opcode index {op.OpcodeIndex()} of {len(codes)}")
        kind, version = codes[op.OpcodeIndex()]
        ins = indices([op.Inputs(j) for j in range(op.InputsLength())], allow_missing=True)
        outs = indices([op.Outputs(j) for j in range(op.OutputsLength())])
        custom = op.CustomOptionsAsNumpy().tobytes() if op.CustomOptionsLength() else b""
        ops.append(TfOp(kind, ins, outs, _options(op, kind), custom, version))
    inputs = indices([sg.Inputs(j) for j in range(sg.InputsLength())])
    outputs = indices([sg.Outputs(j) for j in range(sg.OutputsLength())])
    return TfSubgraph((sg.Name() or b"").decode(errors="replace"), ops, inputs, outputs)


def _builtin_code(oc) -> int:
    """OperatorCode.builtin_code as stored. The tflite package's accessor returns deprecated_builtin_code for
    codes below 127, which is wrong for writers (ai-edge-quantizer) that leave the deprecated field at 0."""
    o = oc._tab.Offset(10)
    return int(oc._tab.Get(flatbuffers.number_types.Int32Flags, o + oc._tab.Pos)) if o else 0


def _buffer_data(buf: bytes, b) -> bytes:
    if b.Offset() > 1:  # data outside the flatbuffer (models > 2 GB): offset from the file's start
        start, size = b.Offset(), b.Size()
        if start + size > len(buf):
            raise ModelError(f"buffer at offset {start} of {size} bytes reaches past the file")
        return buf[start:start + size]
    return b.DataAsNumpy().tobytes() if b.DataLength() else b""


def _tensor(t, buffers: list[bytes], budget: list[int]) -> TfTensor:
    name = (t.Name() or b"").decode(errors="replace")
    shape = tuple(int(t.Shape(j)) for j in range(t.ShapeLength()))
    if any(d < 0 for d in shape):
        raise ModelError(f"tensor {name!r} has shape {list(shape)}")
    dtype = DTYPES.get(t.Type(), "")
    if not 0 <= t.Buffer() < max(len(buffers), 1):
        raise ModelError(f"tensor {name!r} refers to buffer {t.Buffer()} of {len(buffers)}")
    raw = buffers[t.Buffer()] if buffers else b""
    data = None
    if raw and t.Sparsity() is not None:
        if not dtype:
            raise ModelError(f"sparse constant {name!r} of type {t.Type()}")
        values = np.frombuffer(raw[:len(raw) // np.dtype(dtype).itemsize * np.dtype(dtype).itemsize], dtype)
        budget[0] -= int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if budget[0] < 0:
            raise ModelError(f"sparse constant {name!r}: its dense form {list(shape)} is larger than the file "
                             "can honestly describe")
        data = tflite_sparse.densify(values, shape, _sparsity(t.Sparsity()), name)
    elif raw:
        count = int(np.prod(shape, dtype=np.int64))
        if not dtype or count * np.dtype(dtype).itemsize != len(raw):
            raise ModelError(f"constant {name!r}: {len(raw)} bytes do not hold {list(shape)} of type {t.Type()}")
        data = np.frombuffer(raw, dtype).reshape(shape)
    signature = tuple(int(d) for d in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() else None
    if signature is not None and (len(signature) != len(shape) or any(d < -1 for d in signature)):
        raise ModelError(f"tensor {name!r} has shape {list(shape)} and signature {list(signature)}")
    return TfTensor(name, shape, dtype, data, _quant(t.Quantization(), shape, name), signature)


def _quant(q, shape: tuple[int, ...], name: str) -> Quant | None:
    if q is None or q.ScaleLength() == 0:
        return None
    scale = q.ScaleAsNumpy().astype(np.float32)
    zero = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros(len(scale), np.int64)
    axis = int(q.QuantizedDimension())
    if len(zero) == 1 and len(scale) > 1:
        zero = np.repeat(zero, len(scale))
    per_axis = len(scale) > 1
    if len(zero) != len(scale) or (per_axis and not (0 <= axis < len(shape) and shape[axis] == len(scale))) \
            or not np.all(np.isfinite(scale)):
        raise ModelError(f"tensor {name!r}: quantization of {len(scale)} scales, {len(zero)} zero points on "
                         f"axis {axis} of {list(shape)}")
    return Quant(scale, zero, axis if per_axis else 0)


def _vector(v, kind):
    """A SparseIndexVector union member as an int64 array."""
    cls = {tflite.SparseIndexVector.Int32Vector: tflite.Int32Vector,
           tflite.SparseIndexVector.Uint16Vector: tflite.Uint16Vector,
           tflite.SparseIndexVector.Uint8Vector: tflite.Uint8Vector}.get(kind)
    if cls is None or v is None:
        raise ModelError(f"sparse dimension with index vector type {kind}")
    vec = cls()
    vec.Init(v.Bytes, v.Pos)
    return vec.ValuesAsNumpy().astype(np.int64) if vec.ValuesLength() else np.zeros(0, np.int64)


def _sparsity(s) -> tflite_sparse.Sparsity:
    dims = []
    for j in range(s.DimMetadataLength()):
        d = s.DimMetadata(j)
        if d.Format() == tflite.DimensionType.DENSE:
            dims.append(tflite_sparse.Dim(dense_size=int(d.DenseSize())))
        else:
            dims.append(tflite_sparse.Dim(segments=_vector(d.ArraySegments(), d.ArraySegmentsType()),
                                          indices=_vector(d.ArrayIndices(), d.ArrayIndicesType())))
    order = s.TraversalOrderAsNumpy().astype(np.int64).tolist() if s.TraversalOrderLength() else []
    block_map = s.BlockMapAsNumpy().astype(np.int64).tolist() if s.BlockMapLength() else []
    return tflite_sparse.Sparsity(order, block_map, dims)


def _options(op, kind: str) -> dict:
    if kind not in OPTIONS:
        return {}
    cls_name, fields = OPTIONS[kind]
    table = op.BuiltinOptions()
    if table is None:
        if kind in REQUIRED_OPTIONS:
            raise ModelError(f"{kind} operator without its options")
        return {}
    opts = getattr(tflite, cls_name)()
    opts.Init(table.Bytes, table.Pos)
    out = {}
    for f in fields:
        if f.endswith("[]"):
            f = f[:-2]
            out[f] = [int(v) for v in getattr(opts, f + "AsNumpy")()] if getattr(opts, f + "Length")() else []
        else:
            out[f] = getattr(opts, f)()
    if any(v < 1 for f, v in out.items() if f.startswith(("Stride", "Dilation", "Filter", "Depth", "Block"))):
        raise ModelError(f"{kind} operator with options {out}")
    if out.get("Padding", 0) not in (tflite.Padding.SAME, tflite.Padding.VALID):
        raise ModelError(f"{kind} operator with unknown padding {out['Padding']}")
    return out
