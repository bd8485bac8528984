"""Small models for the tool tests: a hand-made graph (.pmace, no source) and the same as an ONNX model."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pymace.ir import pmace_file
from pymace.ir.graph import Graph, Node, Tensor
from pymace.tools.convert import convert
from tests.helpers import make_model

SHAPE = (1, 3, 8, 8)


def _weights():
    rng = np.random.default_rng(1)
    return (rng.standard_normal((3, 3, 3, 3)) * 0.3).astype(np.float32), rng.standard_normal(3).astype(np.float32)


@pytest.fixture(scope="session")
def storage(tmp_path_factory):
    """One storage dir for the session: the tools' engines share its program cache."""
    return str(tmp_path_factory.mktemp("storage"))


@pytest.fixture(scope="session")
def small_pmace(tmp_path_factory) -> str:
    """conv → relu → add(relu, x): three nodes, three programs, no source model recorded."""
    w, b = _weights()
    t = {"x": Tensor("x", SHAPE), "w": Tensor("w", w.shape, "float32", w), "b": Tensor("b", b.shape, "float32", b),
         "c": Tensor("c", SHAPE), "r": Tensor("r", SHAPE), "y": Tensor("y", SHAPE)}
    nodes = [Node("conv", "Conv", ["x", "w", "b"], ["c"], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
             Node("relu", "Relu", ["c"], ["r"]), Node("add", "Add", ["r", "x"], ["y"])]
    path = tmp_path_factory.mktemp("model") / "small.pmace"
    pmace_file.save(Graph("small", nodes, t, ["x"], ["y"]), str(path))
    return str(path)


@pytest.fixture
def small_onnx(tmp_path) -> tuple[str, str]:
    """(source .onnx, converted .pmace) of a conv → sigmoid classifier-like model with 16 scores."""
    w, b = _weights()
    fc = np.random.default_rng(2).standard_normal((16, 192)).astype(np.float32) * 0.1
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         helper.make_node("Sigmoid", ["c"], ["s"]),
         helper.make_node("Flatten", ["s"], ["f"], axis=1),
         helper.make_node("Gemm", ["f", "fc"], ["scores"], transB=1)],
        "small_onnx", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 16])],
        [numpy_helper.from_array(a, n) for n, a in (("w", w), ("b", b), ("fc", fc))])
    model = make_model(graph, 13)
    src, out = tmp_path / "small.onnx", tmp_path / "small_onnx.pmace"
    onnx.save(model, str(src))
    convert(src, out)
    return str(src), str(out)
