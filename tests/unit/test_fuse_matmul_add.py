"""passes/fuse_matmul_add.py: a MatMul's bias or residual Add becomes the MatMul's addend — the graph's outputs as
onnxruntime's (NumPy reference and this machine's OpenCL device), the Add gone — and MatMuls it cannot take
(batched B, a second reader, an addend that varies by row, an activation of its own) keep their Add."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from pymace import Engine, passes
from pymace.errors import ConvertError
from pymace.frontends import onnx as onnx_frontend
from pymace.ops import gemm
from pymace.ops.base import TensorInfo
from pymace.reference import executor
from tests.helpers import make_model, opencl_devices, ort_run_model, rel_err

DEVICES = opencl_devices()


def _model(nodes, x_shape, inits, outputs=("y",)):
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return make_model(g, 17)


def _converted(onnx_model, x):
    graph = passes.run(onnx_frontend.load(onnx_model))
    want = ort_run_model(onnx_model, {"x": x})
    got = executor.run(graph, {"x": x})
    for w, name in zip(want, graph.outputs):
        assert rel_err(got[name], w) < 1e-5
    return graph, want


def _linear(rng, d_in=16, d_out=24, act=None, residual=False):
    inits = {"w": rng.standard_normal((d_in, d_out)).astype(np.float32),
             "b": rng.standard_normal(d_out).astype(np.float32)}
    last = "y" if not (act or residual) else "a"
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], [last])]
    if residual:
        nodes.append(helper.make_node("Add", ["x", "a"], ["y" if not act else "r"]))
    if act:
        nodes.append(helper.make_node(act, ["r" if residual else "a"], ["y"]))
    return _model(nodes, [2, 7, d_in], inits)


@pytest.mark.parametrize("act, residual", [(None, False), ("Relu", False), (None, True), ("Relu", True)])
def test_linear_layers_fuse_their_bias(act, residual):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 7, 16)).astype(np.float32)
    graph, want = _converted(_linear(rng, 16, 16, act, residual), x)
    ops = [n.op_type for n in graph.nodes]
    assert ops.count("MatMul") == 1 and ops.count("Add") == int(residual)  # one addend a MatMul
    assert graph.nodes[ops.index("MatMul")].attrs["addend"] is True
    if act and not residual:
        assert graph.nodes[0].attrs["activation"] == act
    for device in DEVICES:
        for data_type, tol in (("fp32", 1e-5), ("fp16", 1e-2)):
            got = Engine(graph, device=device.selector, data_type=data_type).run({"x": x})
            assert rel_err(got["y"], want[0]) < tol, (device.name, data_type)


def test_a_residual_of_the_outputs_shape_fuses():
    rng = np.random.default_rng(4)
    inits = {"w": rng.standard_normal((16, 16)).astype(np.float32)}
    x = rng.standard_normal((1, 9, 16)).astype(np.float32)
    graph, want = _converted(_model([helper.make_node("MatMul", ["x", "w"], ["m"]),
                                     helper.make_node("Add", ["x", "m"], ["y"])], [1, 9, 16], inits), x)
    assert [n.op_type for n in graph.nodes] == ["MatMul"] and graph.nodes[0].inputs[2] == "x"
    for device in DEVICES:
        assert rel_err(Engine(graph, device=device.selector).run({"x": x})["y"], want[0]) < 1e-5


@pytest.mark.parametrize("kind", ["batched_b", "second_reader", "row_varying", "own_activation"])
def test_what_keeps_its_add(kind):
    rng = np.random.default_rng(5)
    w_shape = (2, 16, 8) if kind == "batched_b" else (16, 8)
    inits = {"w": rng.standard_normal(w_shape).astype(np.float32),
             "b": rng.standard_normal((7, 1) if kind == "row_varying" else (8,)).astype(np.float32)}
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"])]
    if kind == "own_activation":
        nodes.append(helper.make_node("Relu", ["m"], ["r"]))
    nodes.append(helper.make_node("Add", ["r" if kind == "own_activation" else "m", "b"], ["y"]))
    outputs = ("y", "m") if kind == "second_reader" else ("y",)
    x = rng.standard_normal((2, 7, 16)).astype(np.float32)
    graph, _ = _converted(_model(nodes, [2, 7, 16], inits, outputs), x)
    assert "Add" in [n.op_type for n in graph.nodes]
    assert not any(n.attrs.get("addend") for n in graph.nodes)


@pytest.mark.parametrize("c_shape, rest", [((7, 1), 1), ((3, 8), 1), ((8,), 0), ((8,), 2)])
def test_a_crafted_addend_is_refused(c_shape, rest):
    """An `addend` that the kernels cannot add, or a wrong number of inputs, fails in one line at conversion or load."""
    infos = [TensorInfo(c_shape)] * rest
    with pytest.raises(ConvertError, match="addend"):
        gemm.infer(TensorInfo((2, 7, 16)), TensorInfo((16, 8)), *infos, _op_type="MatMul", addend=True)


def test_a_linear_layer_and_its_gelu_are_one_matmul():
    """ViT's MLP: MatMul → Add(bias) → x · 0.5 · (1 + Erf(x / √2)), exported from torch, is one MatMul."""
    rng = np.random.default_rng(6)
    inits = {"w": rng.standard_normal((16, 32)).astype(np.float32), "b": rng.standard_normal(32).astype(np.float32),
             "sqrt2": np.float32(np.sqrt(2)), "one": np.float32(1), "half": np.float32(0.5)}
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["a"]),
             helper.make_node("Div", ["a", "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
             helper.make_node("Add", ["e", "one"], ["e1"]), helper.make_node("Mul", ["a", "e1"], ["g"]),
             helper.make_node("Mul", ["g", "half"], ["y"])]
    x = rng.standard_normal((1, 10, 16)).astype(np.float32)
    graph, want = _converted(_model(nodes, [1, 10, 16], inits), x)
    assert [(n.op_type, n.attrs.get("activation")) for n in graph.nodes] == [("MatMul", "Gelu")]
    for device in DEVICES:
        for data_type, tol in (("fp32", 1e-5), ("fp16", 1e-2)):
            got = Engine(graph, device=device.selector, data_type=data_type).run({"x": x})
            assert rel_err(got["y"], want[0]) < tol, (device.name, data_type)


def _attention_scores(rng, scale_after=False):
    """torch's scaled dot-product attention as exported: q · √s and kᵀ · √s, then MatMul (or q·kᵀ / √d)."""
    inits = {"wq": rng.standard_normal((16, 16)).astype(np.float32), "s": np.float32(0.25 ** 0.5),
             "d": np.float32(4.0)}
    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"]), helper.make_node("Transpose", ["x"], ["kt"],
                                                                              perm=[0, 2, 1])]
    if scale_after:
        nodes += [helper.make_node("MatMul", ["q", "kt"], ["m"]), helper.make_node("Div", ["m", "d"], ["y"])]
    else:
        nodes += [helper.make_node("Mul", ["q", "s"], ["qs"]), helper.make_node("Mul", ["s", "kt"], ["ks"]),
                  helper.make_node("MatMul", ["qs", "ks"], ["y"])]
    return _model(nodes, [2, 9, 16], inits)


@pytest.mark.parametrize("scale_after", [False, True])
def test_scalar_scales_of_attention_fold_into_alpha(scale_after):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 9, 16)).astype(np.float32)
    graph, want = _converted(_attention_scores(rng, scale_after), x)
    assert [n.op_type for n in graph.nodes if n.op_type in ("Mul", "Div")] == []
    # q · √s may fold into q's own MatMul (its result) instead of the scores' (an operand): the same product
    assert np.prod([n.attrs.get("alpha", 1.0) for n in graph.nodes if n.op_type == "MatMul"]) == pytest.approx(0.25)
    for device in DEVICES:
        got = Engine(graph, device=device.selector).run({"x": x})
        assert rel_err(got["y"], want[0]) < 1e-5


def test_a_scale_between_tensors_read_elsewhere_stays():
    """q · s, where q and q · s both have another reader: neither MatMul can take the scale."""
    rng = np.random.default_rng(8)
    inits = {"wq": rng.standard_normal((16, 16)).astype(np.float32), "s": np.float32(0.5),
             "wk": rng.standard_normal((16, 9)).astype(np.float32)}
    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"]), helper.make_node("Relu", ["q"], ["r"]),
             helper.make_node("Mul", ["q", "s"], ["qs"]), helper.make_node("Tanh", ["qs"], ["z"]),
             helper.make_node("MatMul", ["qs", "wk"], ["y"])]
    x = rng.standard_normal((2, 9, 16)).astype(np.float32)
    graph, _ = _converted(_model(nodes, [2, 9, 16], inits, ("y", "r", "z")), x)
    assert [n.op_type for n in graph.nodes].count("Mul") == 1
    assert all("alpha" not in n.attrs for n in graph.nodes)


def _layer_scale(rng, permuted=True, gamma_shape=None, w_read_twice=False):
    """ConvNeXt's block tail: Linear (MatMul + bias), permuted back to NCHW, times the layer scale γ (C, 1, 1),
    plus the residual; or, unpermuted, γ as a row."""
    c = 8
    inits = {"w": rng.standard_normal((c, c)).astype(np.float32), "b": rng.standard_normal(c).astype(np.float32),
             "g": rng.standard_normal(gamma_shape or ((c, 1, 1) if permuted else (c,))).astype(np.float32)}
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 3, 1]),
             helper.make_node("MatMul", ["xt", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["a"])]
    if permuted:
        nodes += [helper.make_node("Transpose", ["a"], ["at"], perm=[0, 3, 1, 2]),
                  helper.make_node("Mul", ["g", "at"], ["s"]), helper.make_node("Add", ["x", "s"], ["y"])]
    else:
        nodes += [helper.make_node("Mul", ["a", "g"], ["y"])]
    outputs = ("y",)
    if w_read_twice:
        nodes.append(helper.make_node("MatMul", ["xt", "w"], ["z"]))
        outputs = ("y", "z")
    return _model(nodes, [1, c, 4, 5], inits, outputs)


@pytest.mark.parametrize("permuted", [True, False])
def test_a_layer_scale_folds_into_the_linear_weights(permuted):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 8, 4, 5)).astype(np.float32)
    graph, want = _converted(_layer_scale(rng, permuted), x)
    assert "Mul" not in [n.op_type for n in graph.nodes]
    for device in DEVICES:
        for data_type, tol in (("fp32", 1e-5), ("fp16", 1e-2)):
            got = Engine(graph, device=device.selector, data_type=data_type).run({"x": x})
            assert rel_err(got["y"], want[0]) < tol, (device.name, data_type)


@pytest.mark.parametrize("gamma_shape", [(1, 4, 1), (8, 4, 1), (1,)])
def test_a_scale_that_does_not_follow_the_columns_stays(gamma_shape):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((1, 8, 4, 5)).astype(np.float32)
    graph, _ = _converted(_layer_scale(rng, True, gamma_shape), x)
    assert "Mul" in [n.op_type for n in graph.nodes]


def test_weights_another_node_reads_stay_as_they_were():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((1, 8, 4, 5)).astype(np.float32)
    graph, _ = _converted(_layer_scale(rng, True, w_read_twice=True), x)  # both outputs checked against onnxruntime
    assert "Mul" not in [n.op_type for n in graph.nodes]
    assert sum(n.inputs[1] == "w" for n in graph.nodes if n.op_type == "MatMul") == 1


def test_a_mul_of_a_scalar_converts():
    """A Mul whose output is a scalar has no columns to scale (ddddocr's old dynamic-quantized model raised
    IndexError in the fold)."""
    rng = np.random.default_rng(14)
    inits = {"g": np.array(2.5, np.float32), "axes": np.array([0], np.int64)}
    nodes = [helper.make_node("ReduceSum", ["x", "axes"], ["m"], keepdims=0),
             helper.make_node("Mul", ["m", "g"], ["y"])]
    graph, _ = _converted(_model(nodes, [8], inits), rng.standard_normal(8).astype(np.float32))
    assert [n.op_type for n in graph.nodes] == ["ReduceSum", "Mul"]
