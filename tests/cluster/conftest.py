"""A three-node Ray cluster on loopback for the module, a small classifier and a folder of real photos.

Head: PoCL's default (pthread) driver; worker A: POCL_DEVICES=pthread, resource poclA, label pool=a; worker B:
POCL_DEVICES=basic, resource poclB, label pool=b — two distinct OpenCL devices on one machine."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.cluster.local_cluster import LocalCluster, NodeSpec
from tests.helpers import make_model

INPUT = (1, 3, 16, 16)
CLASSES = 16


def pymace(*args, env=None, timeout=300):
    """(exit code, stdout, stderr) of `python -m pymace.cli ARGS`."""
    done = subprocess.run([sys.executable, "-m", "pymace.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="session")
def storage(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("storage"))


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory, storage):
    """(address, environment a driver needs); stopped (its nodes' process groups ended) after the module, so the
    rest of the suite does not share the machine with idle Ray nodes."""
    pytest.importorskip("ray", reason="Ray is pymace's [cluster] extra, in [test]")
    probe = {"PYMACE_STORAGE_DIR": storage}  # the nodes' probe memo stays out of the user's cache dir
    nodes = [NodeSpec(2, env={**probe, "POCL_DEVICES": "pthread"}),
             NodeSpec(2, {"poclA": 1}, {**probe, "POCL_DEVICES": "pthread"}, {"pool": "a"}),
             NodeSpec(2, {"poclB": 1}, {**probe, "POCL_DEVICES": "basic"}, {"pool": "b"})]
    with LocalCluster(nodes) as cluster:
        yield cluster.address, cluster.env


@pytest.fixture(scope="session")
def classifier(tmp_path_factory) -> tuple[str, str]:
    """(source .onnx, converted .pmace): conv → relu → flatten → gemm → softmax over 16 classes, seeded."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from pymace.tools.convert import convert

    rng = np.random.default_rng(11)
    w = (rng.standard_normal((8, 3, 3, 3)) * 0.4).astype(np.float32)
    fc = (rng.standard_normal((CLASSES, 8 * 16 * 16)) * 0.05).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["r"]), helper.make_node("Flatten", ["r"], ["f"], axis=1),
         helper.make_node("Gemm", ["f", "fc"], ["g"], transB=1), helper.make_node("Softmax", ["g"], ["p"], axis=1)],
        "classifier", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(INPUT))],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, [1, CLASSES])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(fc, "fc")])
    model = make_model(graph, 13)
    folder = tmp_path_factory.mktemp("model")
    onnx.save(model, str(folder / "classifier.onnx"))
    convert(folder / "classifier.onnx", folder / "classifier.pmace")
    return str(folder / "classifier.onnx"), str(folder / "classifier.pmace")


@pytest.fixture(scope="session")
def photos(tmp_path_factory):
    """A dataset folder of crops of scikit-image's photos: class folders 0-2 (labels chosen for the test: they
    exercise the counting, the model is untrained) and unlabelled images beside them."""
    import skimage.data
    from PIL import Image

    root = tmp_path_factory.mktemp("photos")
    names = ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "camera", "coins"]
    for k, name in enumerate(names):
        img = getattr(skimage.data, name)()
        h, w = img.shape[:2]
        folder = root / str(k % 3) if k < 6 else root
        folder.mkdir(exist_ok=True)
        for i, (top, left) in enumerate([(0, 0), (h // 4, w // 4), (h // 3, 0)]):
            crop = img[top:top + h // 2, left:left + w // 2]
            Image.fromarray(crop).save(folder / f"{name}_{i}.{'jpg' if i % 2 else 'png'}")
    return root
