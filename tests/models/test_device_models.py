"""Every open-set model on every OpenCL device present (PoCL in CI), in fp32 and fp16 storage, against its
source framework's runtime (onnxruntime / LiteRT) on fresh random inputs — and the real photos classified or
detected on the device. Peak device memory stays within 1.3x weights + the largest set of live activations."""
from __future__ import annotations

import numpy as np
import pytest

from pymace import Engine
from pymace.ir import pmace_file
from pymace.tools import validate, zoo
from tests.helpers import opencl_devices

DEVICES = opencl_devices()
pytestmark = pytest.mark.skipif(not DEVICES, reason="needs an OpenCL device")
MODELS = ["mobilenet_v2", "blazeface", "ppocr_cls", "ppocr_det", "mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet"]
COSINE = {"fp32": 0.9999, "fp16": 0.995}


def cosine(a, b) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def source_outputs(graph, feeds):
    """The model run by its source framework's runtime, as `pymace validate` runs it."""
    runtime, source, _ = validate.choose_reference(graph, "auto")
    assert runtime in ("onnxruntime", "litert"), runtime
    return validate.match_outputs(graph.outputs, validate.run_reference(runtime, source, graph, feeds))


@pytest.fixture(scope="module", params=MODELS)
def model(request):
    graph = pmace_file.load(str(zoo.fetch(request.param)))
    rng = np.random.default_rng(zlib_seed(request.param))
    feeds = {n: rng.uniform(-1, 1, graph.tensors[n].shape).astype(np.float32) for n in graph.inputs}
    return graph, feeds, source_outputs(graph, feeds)


def zlib_seed(name: str) -> int:
    import zlib

    return zlib.crc32(name.encode())


@pytest.mark.parametrize("data_type", ["fp32", "fp16"])
@pytest.mark.parametrize("device", DEVICES, ids=[d.selector for d in DEVICES])
def test_model_matches_source_runtime(model, device, data_type, tmp_path_factory):
    graph, feeds, want = model
    engine = Engine(graph, device=device.selector, data_type=data_type,
                    storage_dir=str(tmp_path_factory.getbasetemp() / "device-models"))
    got = engine.run(feeds)
    for name in graph.outputs:
        c = cosine(got[name], want[name])
        assert c >= COSINE[data_type], f"{graph.name} {name} on {device.name} ({data_type}): cosine {c:.6f}"
    mem = engine.memory
    assert mem.total_bytes <= 1.3 * (mem.weights_bytes + mem.peak_live_bytes), mem.as_dict()


@pytest.mark.parametrize("device", DEVICES, ids=[d.selector for d in DEVICES])
@pytest.mark.parametrize("photo,label", [("chelsea", 285), ("coffee", 967)])
def test_mobilenet_v2_classifies_photos_on_device(device, photo, label, tmp_path_factory):
    path = zoo.fetch("mobilenet_v2")
    engine = Engine(path, device=device.selector, storage_dir=str(tmp_path_factory.getbasetemp() / "device-models"))
    feeds, _ = validate.make_feeds(engine.graph, str(validate_photo(photo)))
    assert int(np.argmax(engine.run(feeds)["logits"])) == label


@pytest.mark.parametrize("device", DEVICES, ids=[d.selector for d in DEVICES])
def test_blazeface_finds_the_astronaut_on_device(device, tmp_path_factory):
    engine = Engine(zoo.fetch("blazeface"), device=device.selector,
                    storage_dir=str(tmp_path_factory.getbasetemp() / "device-models"))
    feeds, _ = validate.make_feeds(engine.graph, str(validate_photo("astronaut")))
    scores = engine.run(feeds)["classificators"]
    assert float(np.exp(-np.logaddexp(0, -scores)).max()) > 0.8  # sigmoid, without overflow


def validate_photo(name: str):
    from pymace.tools.demo import photo_path

    return photo_path(name)


@pytest.mark.parametrize("data_type", ["fp32", "fp16"])
@pytest.mark.parametrize("name, fused", [("mobilenet_v2", 17), ("blazeface", 16)])
def test_gpu_plan_with_separable_convs_on_any_device(name, fused, data_type, model_cache, monkeypatch,
                                                      tmp_path_factory):
    """The plan a GPU runs (conv_gemm everywhere, depthwise → 1x1 pairs fused into SeparableConv) on whatever
    device is here, described as a 132-unit GPU: same answers as the source framework's runtime."""
    import dataclasses

    from pymace.runtime import device as devices

    graph, feeds, want = model_cache(name)
    gpu = dataclasses.replace(DEVICES[0], is_gpu=True, compute_units=132)
    monkeypatch.setattr(devices, "select", lambda spec, storage_dir=None: gpu)
    engine = Engine(graph, device=gpu.selector, data_type=data_type,
                    storage_dir=str(tmp_path_factory.getbasetemp() / "gpu-plan"))
    separable = {s.node.name for s in engine.plan.steps if s.node.op_type == "SeparableConv"}
    assert len(separable) == fused
    assert "SeparableConv" not in {n.op_type for n in engine.graph.nodes}  # the model itself is unchanged
    got = engine.run(feeds)
    for out in graph.outputs:
        c = cosine(got[out], want[out])
        assert c >= COSINE[data_type], f"{name} {out} as a GPU plan ({data_type}): cosine {c:.6f}"


@pytest.fixture(scope="module")
def model_cache():
    made = {}

    def get(name):
        if name not in made:
            graph = pmace_file.load(str(zoo.fetch(name)))
            rng = np.random.default_rng(zlib_seed(name))
            feeds = {n: rng.uniform(-1, 1, graph.tensors[n].shape).astype(np.float32) for n in graph.inputs}
            made[name] = graph, feeds, source_outputs(graph, feeds)
        return made[name]

    return get
