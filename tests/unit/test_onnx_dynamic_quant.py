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
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


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
