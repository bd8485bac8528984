"""Small TFLite flatbuffers written directly with LiteRT's schema (object API), for tests of ops that TensorFlow's
converter does not emit on demand: IF with its branch subgraphs, GREATER_EQUAL, MediaPipe's custom ops, dynamic
dims (shape_signature -1), and operator codes as other writers store them.

    b = Builder()
    x = b.tensor("x", [1, 4], signature=[1, -1])
    y = b.tensor("y", [1, 4])
    b.op("RELU", [x], [y])
    data = b.finish(inputs=[x], outputs=[y])
"""
from __future__ import annotations

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

_TYPES = {np.dtype(np.float32): schema.TensorType.FLOAT32, np.dtype(np.int32): schema.TensorType.INT32,
          np.dtype(np.bool_): schema.TensorType.BOOL, np.dtype(np.int8): schema.TensorType.INT8,
          np.dtype(np.uint8): schema.TensorType.UINT8, np.dtype(np.int64): schema.TensorType.INT64,
          np.dtype(np.float16): schema.TensorType.FLOAT16}


class Builder:
    """One model; `subgraph()` starts another (subgraph 0 is the main one)."""

    def __init__(self):
        self.model = schema.ModelT()
        self.model.version, self.model.description = 3, b"pymace test model"
        self.model.buffers = [schema.BufferT()]  # buffer 0: empty, as TFLite requires
        self.model.operatorCodes, self.model.subgraphs = [], []
        self.codes: dict[tuple, int] = {}
        self.subgraph()

    def subgraph(self, name: str = "") -> int:
        sg = schema.SubGraphT()
        sg.tensors, sg.operators, sg.inputs, sg.outputs, sg.name = [], [], [], [], name.encode()
        self.model.subgraphs.append(sg)
        self.sg = sg
        return len(self.model.subgraphs) - 1

    def use(self, index: int) -> None:
        self.sg = self.model.subgraphs[index]

    def tensor(self, name: str, shape, dtype=np.float32, data=None, signature=None, quant=None) -> int:
        t = schema.TensorT()
        t.name, t.shape, t.type = name.encode(), [int(d) for d in shape], _TYPES[np.dtype(dtype)]
        if signature is not None:
            t.shapeSignature = [int(d) for d in signature]
        t.buffer = 0
        if data is not None:
            buf = schema.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data, dtype).tobytes(), np.uint8)
            self.model.buffers.append(buf)
            t.buffer = len(self.model.buffers) - 1
        if quant is not None:
            q = schema.QuantizationParametersT()
            q.scale, q.zeroPoint = [float(quant[0])], [int(quant[1])]
            t.quantization = q
        self.sg.tensors.append(t)
        return len(self.sg.tensors) - 1

    def const(self, name: str, data, dtype=None) -> int:
        data = np.asarray(data, dtype)
        return self.tensor(name, data.shape, data.dtype, data)

    def op(self, kind: str, inputs, outputs, options=None, custom: bytes | None = None,
           deprecated_code: int | None = None) -> None:
        """Operator `kind` (a BuiltinOperator name, or CUSTOM:<name>) with builtin `options` (an options T object,
        its type found from its class name). deprecated_code: the int8 field as a writer stored it."""
        key = (kind, deprecated_code)
        if key not in self.codes:
            oc = schema.OperatorCodeT()
            if kind.startswith("CUSTOM:"):
                oc.builtinCode = oc.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
                oc.customCode = kind[len("CUSTOM:"):].encode()
            else:
                code = getattr(schema.BuiltinOperator, kind)
                oc.builtinCode = code
                oc.deprecatedBuiltinCode = min(code, 127) if deprecated_code is None else deprecated_code
            oc.version = 1
            self.model.operatorCodes.append(oc)
            self.codes[key] = len(self.model.operatorCodes) - 1
        o = schema.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = self.codes[key], list(inputs), list(outputs)
        if options is not None:
            o.builtinOptionsType = getattr(schema.BuiltinOptions, type(options).__name__[:-1])
            o.builtinOptions = options
        if custom is not None:
            o.customOptions = np.frombuffer(custom, np.uint8)
        self.sg.operators.append(o)

    def io(self, inputs, outputs) -> None:
        self.sg.inputs, self.sg.outputs = list(inputs), list(outputs)

    def finish(self, inputs=None, outputs=None) -> bytes:
        """The model's bytes; `inputs`/`outputs` set subgraph 0's interface."""
        if inputs is not None:
            self.model.subgraphs[0].inputs, self.model.subgraphs[0].outputs = list(inputs), list(outputs)
        b = flatbuffers.Builder(1024)
        b.Finish(self.model.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def options(name: str, **fields):
    """A builtin options object (`options("IfOptions", thenSubgraphIndex=1, elseSubgraphIndex=2)`)."""
    opts = getattr(schema, name + "T")()
    for k, v in fields.items():
        setattr(opts, k, v)
    return opts


def repack(data: bytes, edit) -> bytes:
    """A model read into the object API, changed by `edit(model)`, written again."""
    model = schema.ModelT.InitFromPackedBuf(data, 0)
    edit(model)
    b = flatbuffers.Builder(len(data) + 1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())
