"""fuse_layer_norm and fuse_gelu: the decomposed forms real exports write become one node, the outputs stay the
same (against the unrewritten graph and onnxruntime), and nothing is fused when a tensor of the pattern is read
elsewhere."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from pymace import passes
from pymace.frontends import onnx as onnx_frontend
from pymace.reference import executor
from tests.helpers import make_model


def _model(nodes, x_shape, inits, opset=13):
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    model = make_model(g, opset)
    return model


def ort_run_model(model, feeds):
    import onnxruntime as ort

    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def _check(model, x_shape, fused_op, seed):
    """Convert, run the passes, compare with the unrewritten graph and onnxruntime; return the op types left."""
    graph = onnx_frontend.load(model)
    x = (np.random.default_rng(seed).standard_normal(x_shape) * 3 + 1).astype(np.float32)
    after = passes.run(copy.deepcopy(graph))
    got, before = executor.run(after, {"x": x})["y"], executor.run(graph, {"x": x})["y"]
    want = ort_run_model(model, {"x": x})[0]
    np.testing.assert_allclose(got, before, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    ops_left = [n.op_type for n in after.nodes]
    return ops_left.count(fused_op), ops_left


def _layer_norm_nodes(square="Pow", axes=(-1,), gamma=True, beta=True, eps_first=False, extra_reader=False):
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=list(axes)),
             helper.make_node("Sub", ["x", "m"], ["d"]),
             helper.make_node("Pow", ["d", "two"], ["sq"]) if square == "Pow" else
             helper.make_node("Mul", ["d", "d"], ["sq"]),
             helper.make_node("ReduceMean", ["sq"], ["v"], axes=list(axes)),
             helper.make_node("Add", ["eps", "v"] if eps_first else ["v", "eps"], ["ve"]),
             helper.make_node("Sqrt", ["ve"], ["s"]),
             helper.make_node("Div", ["d", "s"], ["n" if gamma or extra_reader else "y"])]
    last = "n"
    if gamma:
        nodes.append(helper.make_node("Mul", ["n", "gamma"], ["g" if beta else "y"]))
        last = "g"
    if gamma and beta:
        nodes.append(helper.make_node("Add", ["beta", "g"], ["y0" if extra_reader else "y"]))
        last = "y0"
    if extra_reader:  # the variance is read a second time: the pattern must stay
        nodes.append(helper.make_node("Add", [last, "v"], ["y"]))
    return nodes


@pytest.mark.parametrize("square, axes, gamma, beta, eps_first, gamma_shape", [
    ("Pow", (-1,), True, True, False, (16,)), ("Mul", (2,), True, True, True, (1, 1, 16)),
    ("Pow", (-2, -1), True, True, False, (5, 16)), ("Pow", (-1,), True, False, False, (16,)),
    ("Mul", (-1,), False, False, False, (16,)), ("Pow", (1, 2), True, True, True, (16,)),
])
def test_layer_norm_forms_fuse(square, axes, gamma, beta, eps_first, gamma_shape):
    rng = np.random.default_rng(len(axes) + gamma + 2 * beta)
    inits = {"two": np.float32(2.0), "eps": np.float32(1e-5),
             "gamma": rng.uniform(0.5, 1.5, gamma_shape).astype(np.float32),
             "beta": rng.standard_normal(16).astype(np.float32)}
    model = _model(_layer_norm_nodes(square, axes, gamma, beta, eps_first), (2, 5, 16), inits)
    fused, left = _check(model, (2, 5, 16), "LayerNormalization", seed=1)
    assert fused == 1 and left == ["LayerNormalization"], left


@pytest.mark.parametrize("change", ["extra_reader", "middle_axis"])
def test_layer_norm_not_fused(change):
    inits = {"two": np.float32(2.0), "eps": np.float32(1e-5), "gamma": np.full(16, 1.5, np.float32),
             "beta": np.full(16, 0.25, np.float32)}
    nodes = _layer_norm_nodes(axes=(1,) if change == "middle_axis" else (-1,), extra_reader=change == "extra_reader")
    fused, left = _check(_model(nodes, (2, 5, 16), inits), (2, 5, 16), "LayerNormalization", seed=2)
    assert fused == 0 and "ReduceMean" in left


def _gelu_nodes(form: str, scale_op="Div", one_first=False, erf_read_twice=False):
    nodes = [helper.make_node(scale_op, ["x", "root2" if scale_op == "Div" else "inv_root2"], ["xs"]),
             helper.make_node("Erf", ["xs"], ["e"]),
             helper.make_node("Add", ["one", "e"] if one_first else ["e", "one"], ["e1"])]
    out = "g" if erf_read_twice else "y"
    if form == "x_half_first":
        nodes += [helper.make_node("Mul", ["x", "half"], ["xh"]), helper.make_node("Mul", ["xh", "e1"], [out])]
    elif form == "gate_half_first":
        nodes += [helper.make_node("Mul", ["half", "e1"], ["hg"]), helper.make_node("Mul", ["x", "hg"], [out])]
    else:  # PaddleOCR's order: (x · (1 + erf)) · 0.5
        nodes += [helper.make_node("Mul", ["x", "e1"], ["xg"]), helper.make_node("Mul", ["xg", "half"], [out])]
    if erf_read_twice:
        nodes.append(helper.make_node("Add", ["g", "e"], ["y"]))
    return nodes


GELU_INITS = {"root2": np.float32(math.sqrt(2)), "inv_root2": np.float32(1 / math.sqrt(2)), "one": np.float32(1),
              "half": np.float32(0.5)}


@pytest.mark.parametrize("form", ["x_half_first", "gate_half_first", "paddle"])
@pytest.mark.parametrize("scale_op, one_first", [("Div", False), ("Mul", True)])
def test_gelu_forms_fuse(form, scale_op, one_first):
    model = _model(_gelu_nodes(form, scale_op, one_first), (2, 3, 7), GELU_INITS)
    fused, left = _check(model, (2, 3, 7), "Gelu", seed=3)
    assert fused == 1 and left == ["Gelu"], left


def test_gelu_not_fused_when_erf_is_read_elsewhere_or_the_scale_differs():
    fused, left = _check(_model(_gelu_nodes("paddle", erf_read_twice=True), (4, 5), GELU_INITS), (4, 5), "Gelu", 4)
    assert fused == 0 and "Erf" in left
    inits = GELU_INITS | {"half": np.float32(0.4)}
    fused, left = _check(_model(_gelu_nodes("paddle"), (4, 5), inits), (4, 5), "Gelu", 5)
    assert fused == 0 and "Erf" in left
