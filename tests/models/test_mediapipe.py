"""MediaPipe's TFLite graphs (the pinned mediapipe wheel, via the zoo), imported by pymace and run by the
reference executor, against LiteRT on fresh random inputs in each model's range. Between them they hold PRELU,
RESIZE_BILINEAR, FULLY_CONNECTED, MEAN, HARD_SWISH, DEPTH_TO_SPACE, sparse weights (DENSIFY), fp16 weights and
the custom Convolution2DTransposeBias (which LiteRT runs through XNNPACK). The device runs of the same models are
benchmarks/tflite_models.py's table (benchmarks/NOTES.md)."""
from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from pymace.frontends import tflite
from pymace.reference import executor
from pymace.tools import zoo

MODELS = {"mp_palm_detection_lite": (0, 1), "mp_hand_landmark_lite": (0, 1), "mp_selfie_segmentation": (0, 1),
          "mp_pose_detection": (-1, 1), "mp_face_detection_full_range_sparse": (-1, 1), "mp_face_landmark": (0, 1)}
TOL = 1e-4  # max|err| / max|ref|: float32 through ~100 layers in another summation order


def litert(path, feeds):
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], feeds[d["name"]])
    it.invoke()
    return {d["name"]: it.get_tensor(d["index"]).copy() for d in it.get_output_details()}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_matches_litert(name):
    path = zoo.source(name)
    graph = tflite.load(path)
    low, high = MODELS[name]
    rng = np.random.default_rng(7)
    feeds = {n: rng.uniform(low, high, graph.tensors[n].shape).astype(np.float32) for n in graph.inputs}
    want, got = litert(path, feeds), executor.run(graph, feeds)
    assert list(want) == graph.outputs
    for out, ref in want.items():
        assert got[out].shape == ref.shape
        err = float(np.abs(got[out] - ref).max() / max(np.abs(ref).max(), 1e-30))
        assert err <= TOL, f"{out}: {err:.2e}"


@pytest.fixture(scope="module")
def mediapipe_kernels(tmp_path_factory):
    """MediaPipe's own kernels of its custom ops, from the pinned wheel (benchmarks/mediapipe_kernels.py)."""
    from benchmarks import mediapipe_kernels

    target = zoo.zoo_dir() / "mediapipe-kernels"
    if not (target / mediapipe_kernels.BINDINGS).exists():
        wheel = zoo._download(zoo.entry("mp_face_landmark_with_attention"), tmp_path_factory.mktemp("wheel"))
        mediapipe_kernels.extract(wheel, target)
    return target / mediapipe_kernels.BINDINGS


def test_attention_model_matches_mediapipes_kernels(mediapipe_kernels):
    """Landmarks2TransformMatrix, TransformTensorBilinear and TransformLandmarks (ops/landmarks.py) against
    MediaPipe's CPU kernels, run by LiteRT."""
    from benchmarks.mediapipe_kernels import interpreter

    path = zoo.source("mp_face_landmark_with_attention")
    graph = tflite.load(path)
    assert {"LandmarksToTransformMatrix", "TransformTensorBilinear", "TransformLandmarks"} <= \
        {n.op_type for n in graph.nodes}
    it = interpreter(path, mediapipe_kernels)
    it.allocate_tensors()
    detail = it.get_input_details()[0]
    for seed in range(2):
        x = np.random.default_rng(seed).uniform(0, 1, detail["shape"]).astype(np.float32)
        it.set_tensor(detail["index"], x)
        it.invoke()
        got = executor.run(graph, {graph.inputs[0]: x})
        for d in it.get_output_details():
            ref = it.get_tensor(d["index"])
            err = float(np.abs(got[d["name"]] - ref).max() / max(np.abs(ref).max(), 1e-30))
            assert err <= TOL, f"{d['name']}: {err:.2e}"
