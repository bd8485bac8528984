"""Real ONNX models: the converted graph (frontend + passes) run by the reference executor must match
onnxruntime on fresh seeded inputs, max|err|/max|ref| ≤ 1e-4."""
from __future__ import annotations

import numpy as np
import pytest

from pymace.metrics import rel_err
from pymace.reference import executor
from pymace.tools import zoo
from pymace.tools.convert import convert
from tests.helpers import ort_session

TOL = 1e-4
ZOO = {"ppocr_cls": {"x": [1, 3, 48, 192]}, "ppocr_det": {"x": [1, 3, 320, 320]},
       "mtcnn_pnet": {"input_1": [1, 60, 80, 3]}, "mtcnn_rnet": {"input_2": [1, 24, 24, 3]},
       "mtcnn_onet": {"input_3": [1, 48, 48, 3]}}
LIGHT = ["light_squeezenet", "light_resnet50", "light_shufflenet", "light_inception_v2", "light_densenet121",
         "light_inception_v1"]


def _page_input(shape, rng) -> np.ndarray:
    """scikit-image's `page` (real text), PP-OCR-normalised, plus fresh noise. Random noise alone gives the text
    detector a map of ~1e-5 probabilities, where onnxruntime's own Sigmoid is off by 0.2 % (pymace's matches a
    float64 sigmoid to 5e-8): a real page makes the comparison meaningful."""
    import skimage.data
    import skimage.transform

    img = skimage.transform.resize(skimage.data.page(), shape[2:]).astype(np.float32)
    x = np.stack([(img - m) / s for m, s in zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])[None]
    return (x + rng.normal(0, 0.05, x.shape)).astype(np.float32)


def _compare(graph, session, feeds) -> list[float]:
    got = executor.run(graph, feeds)
    want = session.run(graph.outputs, feeds)
    for name, w in zip(graph.outputs, want):
        assert got[name].shape == w.shape, f"{name}: {got[name].shape} != {w.shape}"
    return [rel_err(got[n], w) for n, w in zip(graph.outputs, want)]


@pytest.fixture(scope="session")
def zoo_models(tmp_path_factory):
    """{name: (converted graph, onnxruntime session)}, converted once per session."""
    cache = {}

    def get(name):
        if name not in cache:
            if name in zoo.LIGHT:
                path = tmp_path_factory.mktemp("light") / f"{name}.onnx"
                path.write_bytes(zoo.light_model(name).SerializeToString())
                cache[name] = (convert(path), ort_session(path))
            else:
                path = zoo.source(name)
                cache[name] = (convert(path, input_shapes=ZOO[name]), ort_session(path))
        return cache[name]

    return get


@pytest.mark.parametrize("name", list(ZOO))
@pytest.mark.parametrize("seed", [0, 1])
def test_zoo_model_matches_onnxruntime(zoo_models, name, seed):
    graph, session = zoo_models(name)
    rng = np.random.default_rng(seed)
    shapes = ZOO[name]
    feeds = {k: (_page_input(s, rng) if name == "ppocr_det" else rng.standard_normal(s).astype(np.float32))
             for k, s in shapes.items()}
    errs = _compare(graph, session, feeds)
    print(name, seed, errs)
    assert max(errs) <= TOL


@pytest.mark.parametrize("name", LIGHT)
def test_light_model_matches_onnxruntime(zoo_models, name):
    graph, session = zoo_models(name)
    x = np.random.default_rng(7).standard_normal(graph.tensors[graph.inputs[0]].shape).astype(np.float32)
    errs = _compare(graph, session, {graph.inputs[0]: x})
    print(name, errs)
    assert max(errs) <= TOL


def test_passes_shrink_real_models(zoo_models):
    """The passes do their job on real exports: no Constant-derived shape math, BN and activations fused."""
    graph, _ = zoo_models("ppocr_cls")
    kinds = {n.op_type for n in graph.nodes}
    assert not kinds & {"Shape", "Gather", "Cast", "Identity", "Clip", "HardSwish", "BatchNormalization"}
    assert sum(n.attrs.get("activation") == "HardSwish" for n in graph.nodes) == 18
    pnet, _ = zoo_models("mtcnn_pnet")
    assert not any(n.op_type == "PRelu" for n in pnet.nodes)


def test_mobilenet_v2_from_torch_weights():
    """torchvision MobileNetV2 (.pth → ONNX → pymace) against onnxruntime on the same ONNX model."""
    torch_mobilenet = pytest.importorskip("pymace.frontends.torch_mobilenet")
    path = zoo.source("mobilenet_v2")
    model = torch_mobilenet.to_onnx(path)
    graph = convert(path)
    session = ort_session(model)
    x = np.random.default_rng(3).standard_normal((1, 3, 224, 224)).astype(np.float32)
    errs = _compare(graph, session, {graph.inputs[0]: x})
    print("mobilenet_v2", errs)
    assert max(errs) <= TOL
