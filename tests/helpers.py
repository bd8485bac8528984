"""Shared by the tests: one-node graphs for op cases, error metrics, the OpenCL devices present."""
from __future__ import annotations

import numpy as np

from pymace import ops
from pymace.ir.graph import Graph, Node, Tensor
from pymace.metrics import rel_err  # noqa: F401  (the tests' error metric, imported from here)
from pymace.ops.base import Case, TensorInfo


def case_graph(module, case: Case, rng: np.random.Generator) -> tuple[Graph, dict[str, np.ndarray]]:
    """A graph holding one node of the case's op: constant inputs become weights, the rest graph inputs."""
    op_type = case.op_type or module.OP_TYPES[0]
    arrays = case.make_inputs(rng)
    tensors, inputs, feeds, names = {}, [], {}, []
    for i, a in enumerate(arrays):
        if a is None:
            names.append("")
            continue
        name = f"x{i}"
        names.append(name)
        if i in case.consts:
            tensors[name] = Tensor(name, tuple(a.shape), str(a.dtype), a)
        else:
            tensors[name] = Tensor(name, tuple(a.shape), str(a.dtype))
            inputs.append(name)
            feeds[name] = a
    infos = [TensorInfo(tuple(a.shape), str(a.dtype), a if i in case.consts else None) if a is not None else None
             for i, a in enumerate(arrays)]
    out_infos = module.infer(*infos, _op_type=op_type, **case.attrs)
    outputs = [f"y{j}" for j in range(len(out_infos))]
    for name, (shape, dtype) in zip(outputs, out_infos):
        tensors[name] = Tensor(name, tuple(int(d) for d in shape), str(dtype))
    node = Node(f"{op_type}_{case.name}", op_type, names, outputs, dict(case.attrs))
    graph = Graph(f"case_{case.name}", [node], tensors, inputs, outputs)
    graph.verify()
    return graph, feeds


def all_cases():
    """(test id, module, case) for every case of every op file."""
    for module in ops.MODULES:
        for case in module.CASES:
            op_type = case.op_type or module.OP_TYPES[0]
            yield f"{op_type}-{case.name}", module, case


def opencl_devices():
    """Every usable OpenCL device, or only the one PYMACE_TEST_DEVICE selects (e.g. `gpu` on the GPU machine)."""
    import os

    from pymace.runtime import device

    if os.environ.get("PYMACE_TEST_DEVICE"):
        return [device.select(os.environ["PYMACE_TEST_DEVICE"])]
    return [d for d in device.list_devices() if d.usable]


def ort_session(model):
    """An onnxruntime CPU session for an ONNX model: a ModelProto, its bytes, or a path."""
    import onnx
    import onnxruntime as ort

    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    return ort.InferenceSession(source if isinstance(source, bytes) else str(source),
                                providers=["CPUExecutionProvider"])


def ort_run_model(model, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run an ONNX model on onnxruntime's CPU provider (the tests' one onnxruntime runner)."""
    return ort_session(model).run(None, feeds)


def make_model(graph, opset: int = 18):
    """A ModelProto of `graph` at IR version 9, which every onnxruntime the tests meet can read (an onnx package
    newer than its onnxruntime would otherwise stamp a version that onnxruntime refuses)."""
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    return model


def onnx_model(nodes, feeds: dict[str, np.ndarray], outputs: list[str], initializers: dict | None = None,
               opset: int = 18):
    """A ModelProto of `nodes`: typed graph inputs for `feeds`, constant `initializers` (name -> array), and
    untyped graph outputs (onnxruntime infers their types)."""
    from onnx import helper, numpy_helper

    inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
              for n, a in feeds.items()]
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_empty_tensor_value_info(o) for o in outputs],
                              [numpy_helper.from_array(np.asarray(a), n) for n, a in (initializers or {}).items()])
    return make_model(graph, opset)


def ort_run(op_type, inputs, attrs, n_outputs=1, opset=18):
    """Run one ONNX node on onnxruntime; `inputs` may hold None for omitted optional inputs."""
    from onnx import helper

    names = [f"i{k}" if a is not None else "" for k, a in enumerate(inputs)]
    feeds = {n: np.asarray(a) for n, a in zip(names, inputs, strict=True) if n}
    outputs = [f"o{k}" for k in range(n_outputs)]
    node = helper.make_node(op_type, names, outputs, **attrs)
    return ort_run_model(onnx_model([node], feeds, outputs, opset=opset), feeds)
