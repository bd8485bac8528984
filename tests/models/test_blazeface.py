"""BlazeFace (MediaPipe short-range, TFLite): pymace's import run by the reference executor must match LiteRT,
and both must find the astronaut's face."""
from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import skimage.transform
from ai_edge_litert.interpreter import Interpreter

from pymace.frontends import tflite
from pymace.metrics import rel_err
from pymace.reference import executor
from pymace.tools import zoo
from pymace.tools.convert import convert

TOL = 1e-4


@pytest.fixture(scope="module")
def model_path():
    return str(zoo.source("blazeface"))


@pytest.fixture(scope="module")
def litert(model_path):
    it = Interpreter(model_path=model_path)
    it.allocate_tensors()

    def run(x):
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        return {d["name"]: it.get_tensor(d["index"]).copy() for d in it.get_output_details()}
    return run


@pytest.fixture(scope="module", params=["frontend", "convert"])
def graph(request, model_path):
    """The bare import, and the full convert pipeline (passes, shape inference)."""
    return tflite.load(model_path) if request.param == "frontend" else convert(model_path)


def face_score(outputs) -> float:
    """Sigmoid of the best anchor's logit (sigmoid is monotonic, so this is the best anchor's score)."""
    return float(1 / (1 + np.exp(-float(outputs["classificators"].max()))))


def test_interface(graph):
    assert graph.inputs == ["input"] and graph.tensors["input"].shape == (1, 128, 128, 3)
    assert graph.outputs == ["regressors", "classificators"]  # TFLite's order and names


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_litert_on_random_inputs(graph, litert, seed):
    x = np.random.default_rng(seed).uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)
    ref, out = litert(x), executor.run(graph, {"input": x})
    for name in ("regressors", "classificators"):
        assert out[name].shape == ref[name].shape
        assert rel_err(out[name], ref[name]) <= TOL, name


def test_finds_the_astronauts_face(graph, litert):
    img = skimage.transform.resize(skimage.data.astronaut(), (128, 128), anti_aliasing=True)  # floats in [0, 1]
    x = (img * 2 - 1).astype(np.float32)[None]
    ref, out = litert(x), executor.run(graph, {"input": x})
    assert face_score(ref) > 0.8 and face_score(out) > 0.8
    assert abs(face_score(out) - face_score(ref)) < 1e-4
    for name in ref:
        assert rel_err(out[name], ref[name]) <= TOL, name


@pytest.mark.parametrize("level", [-1.0, 0.0, 1.0])
def test_blank_image_scores_low(graph, litert, level):
    x = np.full((1, 128, 128, 3), level, np.float32)  # black (≈0.008), grey, white
    assert face_score(litert(x)) < 0.1 and face_score(executor.run(graph, {"input": x})) < 0.1
