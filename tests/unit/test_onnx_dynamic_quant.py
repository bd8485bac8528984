"""onnxruntime's dynamic quantization (quantize_dynamic): DynamicQuantizeLinear feeding ConvInteger and MatMulInteger
with the input's scale and zero point computed at run time, and com.microsoft DynamicQuantizeLSTM. Small models
with seeded random weights, quantized by onnxruntime itself, run by pymace's reference executor against onnxruntime."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pymace.frontends import onnx as onnx_frontend
from pymace.reference import executor
from tests.helpers import make_model


def _cosine(a, b) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _conv_lstm_model(rng) -> onnx.ModelProto:
    """x [1, 2, 8, 12] → Conv → Relu → (as a sequence over width) bidirectional LSTM → MatMul."""
    def w(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    hidden = 6
    nodes = [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Reshape", ["r", "seq_shape"], ["s"]),  # [1, 4·8, 12] → time steps over width
        helper.make_node("Transpose", ["s"], ["t"], perm=[2, 0, 1]),  # [12, 1, 32]
        helper.make_node("LSTM", ["t", "W", "R", "B"], ["y"], hidden_size=hidden, direction="bidirectional"),
        helper.make_node("Reshape", ["y", "flat_shape"], ["f"]),
        helper.make_node("MatMul", ["f", "proj"], ["out"]),
    ]
    inits = [w("cw", 4, 2, 3, 3), w("cb", 4), w("W", 2, 4 * hidden, 32), w("R", 2, 4 * hidden, hidden),
             w("B", 2, 8 * hidden), w("proj", 2 * hidden, 5),
             numpy_helper.from_array(np.array([1, 32, 12], np.int64), "seq_shape"),
             numpy_helper.from_array(np.array([12, 2 * hidden], np.int64), "flat_shape")]
    graph = helper.make_graph(nodes, "conv_lstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                [1, 2, 8, 12])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], inits)
    return make_model(graph, 17)


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    d = tmp_path_factory.mktemp("dynq")
    src, dst = d / "float.onnx", d / "dynq.onnx"
    onnx.save(_conv_lstm_model(np.random.default_rng(11)), src)
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QUInt8, op_types_to_quantize=["Conv", "LSTM",
                                                                                             "MatMul"])
    ops = {(n.domain, n.op_type) for n in onnx.load(dst).graph.node}
    assert {("", "DynamicQuantizeLinear"), ("", "ConvInteger"), ("com.microsoft", "DynamicQuantizeLSTM")} <= ops
    return dst


def _ort(path, x):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_reference_matches_onnxruntime(quantized):
    graph = onnx_frontend.load(quantized)
    assert "DynamicQuantizeLinear" in {n.op_type for n in graph.nodes}
    assert "LSTM" in {n.op_type for n in graph.nodes}
    for seed in range(3):
        x = np.random.default_rng(seed).uniform(-1, 1, (1, 2, 8, 12)).astype(np.float32)
        got = executor.run(graph, {"x": x})[graph.outputs[0]]
        assert _cosine(got, _ort(quantized, x)) >= 0.9999, seed


def _wide_conv_model(rng) -> onnx.ModelProto:
    """x [1, 64, 6, 6] → Conv 3×3 to 8 channels (576 taps: its integer sums pass fp16's 65504) → MatMul."""
    cw = numpy_helper.from_array((rng.standard_normal((8, 64, 3, 3)) * 0.2).astype(np.float32), "cw")
    cb = numpy_helper.from_array((rng.standard_normal(8) * 0.5).astype(np.float32), "cb")
    proj = numpy_helper.from_array((rng.standard_normal((4, 3)) * 0.5).astype(np.float32), "proj")
    nodes = [helper.make_node("Conv", ["x", "cw", "cb"], ["c"], kernel_shape=[3, 3]),
             helper.make_node("MatMul", ["c", "proj"], ["out"])]
    graph = helper.make_graph(nodes, "wide_conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                [1, 64, 6, 6])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], [cw, cb, proj])
    return make_model(graph, 17)


def test_integer_sums_scaled_before_storage_fp16(tmp_path):
    """ConvInteger / MatMulInteger sums reach past fp16's range: conversion moves their scale in front
    (passes/scale_integer_ops), so fp16 storage agrees with onnxruntime."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from pymace import Engine
    from pymace.tools.convert import convert
    from tests.helpers import opencl_devices

    src, dst = tmp_path / "float.onnx", tmp_path / "dynq.onnx"
    onnx.save(_wide_conv_model(np.random.default_rng(5)), src)
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    assert {"ConvInteger", "MatMulInteger"} <= {n.op_type for n in onnx.load(dst).graph.node}
    graph = convert(str(dst))
    assert not [n for n in graph.nodes if n.op_type == "Cast" and n.attrs.get("to") == TensorProto.INT32]
    x = np.random.default_rng(1).uniform(0, 1, (1, 64, 6, 6)).astype(np.float32)
    want = _ort(dst, x)
    assert _cosine(executor.run(graph, {"x": x})[graph.outputs[0]], want) >= 0.9999
    devices = opencl_devices()
    if not devices:
        pytest.skip("needs an OpenCL device")
    for data_type, floor in (("fp32", 0.9999), ("fp16", 0.995)):
        engine = Engine(graph, device=devices[0].selector, data_type=data_type, storage_dir=str(tmp_path / "s"))
        assert _cosine(engine.run({"x": x})[graph.outputs[0]], want) >= floor, data_type
