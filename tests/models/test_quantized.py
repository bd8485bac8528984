"""A quantized ImageNet classifier against its own int8 runtime: torchvision's MobileNetV2 quantized to ONNX QDQ by
onnxruntime (uint8 weights per channel, uint8 activations), run by pymace in float with the model's Q → DQ
rounding, must give onnxruntime's top-1 on chelsea and coffee and logits within the model's own noise floor
(onnxruntime against itself with a 1e-6 input perturbation: cosine ≈ 0.99; benchmarks/NOTES.md)."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from pymace import Engine
from pymace.reference import executor
from pymace.tools.convert import convert
from tests.helpers import opencl_devices
from tests.models import quantized

EXPECTED = {"chelsea": 285, "coffee": 967}
MIN_COSINE = 0.985


def cosine(a, b) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def qdq_path(tmp_path_factory):
    return quantized.mobilenet_v2_qdq(tmp_path_factory.mktemp("qdq"), weight_type="QUInt8", reduce_range=False)


@pytest.fixture(scope="module")
def graph(qdq_path):
    return convert(qdq_path)


@pytest.fixture(scope="module")
def int8_logits(qdq_path):
    sess = ort.InferenceSession(str(qdq_path), providers=["CPUExecutionProvider"])
    return {name: sess.run(None, {"input": quantized.test_image(name)})[0] for name in EXPECTED}


def test_weights_are_folded_to_float(graph):
    weights = [t for t in graph.tensors.values() if t.data is not None and t.data.ndim == 4]
    assert weights and all(t.data.dtype == np.float32 for t in weights)  # DequantizeLinear of weights folded
    kinds = [n.op_type for n in graph.nodes]
    assert kinds.count("QuantizeLinear") > 50 and kinds.count("DequantizeLinear") > 50  # activations' rounding


@pytest.mark.parametrize("image", sorted(EXPECTED))
def test_reference_matches_onnxruntime_int8(graph, int8_logits, image):
    want = int8_logits[image]
    got = executor.run(graph, {"input": quantized.test_image(image)})["logits"]
    assert int(want.argmax()) == EXPECTED[image]
    assert int(got.argmax()) == int(want.argmax())
    assert cosine(got, want) >= MIN_COSINE


@pytest.mark.parametrize("data_type", ["fp32", "fp16"])
@pytest.mark.parametrize("device", opencl_devices()[:1], ids=lambda d: d.selector)
def test_device_matches_onnxruntime_int8(graph, int8_logits, device, data_type, tmp_path_factory):
    engine = Engine(graph, device=device.selector, data_type=data_type,
                    storage_dir=str(tmp_path_factory.getbasetemp() / "qdq-cache"))
    for image, want in int8_logits.items():
        got = engine.run({"input": quantized.test_image(image)})["logits"]
        assert int(got.argmax()) == int(want.argmax()), image
        assert cosine(got, want) >= MIN_COSINE, image
