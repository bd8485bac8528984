"""MobileNetV2 (torchvision ImageNet weights, legacy .pth): the ONNX model pymace builds from the state dict
runs in onnxruntime and classifies real photos; converted to pymace's IR it matches onnxruntime."""
from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from pymace.frontends import torch_mobilenet
from pymace.metrics import rel_err
from pymace.reference import executor
from pymace.tools import zoo
from pymace.tools.convert import convert
from tests import helpers

TOL = 1e-4
# photo → (ImageNet class, probability onnxruntime gives with pymace's preprocessing)
PHOTOS = {"chelsea": (285, 0.758), "coffee": (967, 0.989)}


@pytest.fixture(scope="module")
def pth():
    return str(zoo.source("mobilenet_v2"))


@pytest.fixture(scope="module")
def ort_session(pth):
    model = torch_mobilenet.to_onnx(pth)
    return helpers.ort_session(model)


@pytest.fixture(scope="module")
def graph(pth):
    return convert(pth)


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def labels() -> list[str]:
    from importlib.resources import files

    return files("pymace.data").joinpath("imagenet_labels.txt").read_text().splitlines()


def test_onnx_interface(ort_session):
    (i,), (o,) = ort_session.get_inputs(), ort_session.get_outputs()
    assert (i.name, i.shape, o.name, o.shape) == ("input", [1, 3, 224, 224], "logits", [1, 1000])


def test_labels():
    names = labels()
    assert len(names) == 1000 and names[285] == "Egyptian cat" and names[967] == "espresso"


def test_preprocess():
    x = torch_mobilenet.preprocess(skimage.data.chelsea())
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
    flat = np.full((50, 80, 3), 255, np.uint8)  # a white image stays white through the resize
    want = (1 - np.array(torch_mobilenet.PREPROCESS["mean"])) / np.array(torch_mobilenet.PREPROCESS["std"])
    np.testing.assert_allclose(torch_mobilenet.preprocess(flat)[0, :, 100, 100], want, rtol=1e-5)
    with pytest.raises(ValueError):
        torch_mobilenet.preprocess(np.zeros((10, 10), np.uint8))


@pytest.mark.parametrize("photo", PHOTOS)
def test_onnxruntime_classifies_photos(ort_session, photo):
    want, p = PHOTOS[photo]
    probs = softmax(ort_session.run(None, {"input": torch_mobilenet.preprocess(getattr(skimage.data, photo)())})
                    [0][0])
    assert probs.argmax() == want and abs(probs.max() - p) < 0.01


@pytest.mark.parametrize("photo", PHOTOS)
def test_reference_matches_onnxruntime_on_photos(graph, ort_session, photo):
    x = torch_mobilenet.preprocess(getattr(skimage.data, photo)())
    ref, out = ort_session.run(None, {"input": x})[0], executor.run(graph, {"input": x})["logits"]
    assert rel_err(out, ref) <= TOL
    assert out.argmax() == PHOTOS[photo][0]


def test_reference_matches_onnxruntime_on_random_input(graph, ort_session):
    x = np.random.default_rng(7).standard_normal((1, 3, 224, 224)).astype(np.float32)
    ref, out = ort_session.run(None, {"input": x})[0], executor.run(graph, {"input": x})["logits"]
    assert rel_err(out, ref) <= TOL
