"""Symbolic dims (ir/symbolic.py): a model with dynamic dims converts without input shapes, keeps its shape
arithmetic, and gives, at any input shape, the graph onnxruntime would run — checked on the reference executor
against onnxruntime at several shapes; bindings and dynamic forms on their own."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from pymace.errors import ConvertError, InputError, ModelError
from pymace.ir import pmace_file, symbolic
from pymace.reference import executor
from pymace.tools import convert
from tests.helpers import make_model, ort_run_model


def _model(nodes, inputs, outputs, inits=(), opset=13):
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()])
    return make_model(graph, opset)


def shape_chain_model():
    """Conv (SAME, stride 2) → MaxPool (SAME, stride 2) → a Reshape to [N, C, H*W] built from Shape → Gather →
    Unsqueeze → Concat, → back with Resize to the input's own H, W (sizes from Shape → Slice → Concat), a Slice
    whose end comes from the input's width, and an Add of the input: batch, height and width are all symbolic."""
    rng = np.random.default_rng(7)
    i64 = lambda *v: np.array(v, np.int64)  # noqa: E731
    inits = {"w": rng.standard_normal((3, 3, 3, 3)).astype(np.float32) * 0.3, "b": np.zeros(3, np.float32),
             "i0": np.array(0, np.int64), "i1": np.array(1, np.int64), "i3": np.array(3, np.int64),
             "half": np.array(2, np.int64), "minus1": i64(-1), "ax0": i64(0), "hw": i64(2), "four": i64(4),
             "two": i64(2), "three": i64(3)}
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
        helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER"),
        helper.make_node("Shape", ["p"], ["ps"]),
        helper.make_node("Gather", ["ps", "i0"], ["n"], axis=0),
        helper.make_node("Gather", ["ps", "i1"], ["ch"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
        helper.make_node("Unsqueeze", ["ch", "ax0"], ["c1"]),
        helper.make_node("Concat", ["n1", "c1", "minus1"], ["flat_shape"], axis=0),
        helper.make_node("Reshape", ["p", "flat_shape"], ["flat"]),
        helper.make_node("Relu", ["flat"], ["flat_relu"]),
        helper.make_node("Shape", ["p"], ["ps2"]),
        helper.make_node("Reshape", ["flat_relu", "ps2"], ["back"]),
        helper.make_node("Shape", ["x"], ["xs"]),
        helper.make_node("Slice", ["xs", "hw", "four"], ["xhw"]),
        helper.make_node("Slice", ["ps2", "ax0", "two"], ["pnc"]),
        helper.make_node("Concat", ["pnc", "xhw"], ["sizes"], axis=0),
        helper.make_node("Resize", ["back", "", "", "sizes"], ["up"], mode="nearest"),
        helper.make_node("Add", ["up", "x"], ["sum"]),
        helper.make_node("Gather", ["xs", "i3"], ["width"], axis=0),
        helper.make_node("Div", ["width", "half"], ["half_width"]),
        helper.make_node("Unsqueeze", ["half_width", "ax0"], ["end"]),
        helper.make_node("Slice", ["sum", "ax0", "end", "three"], ["y"]),
    ]
    return _model(nodes, [("x", ["N", 3, "H", "W"])], [("y", ["N", 3, "H", "half_W"])], inits)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("symbolic")
    import onnx

    onnx.save(shape_chain_model(), folder / "chain.onnx")
    convert.convert(folder / "chain.onnx", folder / "chain.pmace")
    return pmace_file.load(str(folder / "chain.pmace"))


def test_converted_without_input_shapes_keeps_symbols_and_shape_arithmetic(converted):
    assert converted.tensors["x"].shape == ("N", 3, "H", "W")
    assert converted.tensors["y"].shape == ("N", 3, "H", "half_W")  # N, H taken by input symbols; W/2 labelled
    ops = [n.op_type for n in converted.nodes]
    assert "Shape" in ops and "Concat" in ops
    assert any(n.op_type == "Reshape" and len(n.inputs) == 2 for n in converted.nodes)  # the dynamic form
    assert converted.metadata["example_shapes"] == {"x": [1, 3, 224, 256]}
    assert symbolic.symbols(converted) == ["N", "H", "W"]


@pytest.mark.parametrize("shape", [(1, 3, 32, 48), (2, 3, 17, 9), (3, 3, 64, 31)])
def test_each_shape_matches_onnxruntime(converted, shape):
    graph = symbolic.specialize(converted, {"x": shape})
    assert not any(n.op_type == "Shape" for n in graph.nodes)  # the shape arithmetic folded away
    assert all(len(n.inputs) == 1 for n in graph.nodes if n.op_type in ("Reshape", "Slice", "Resize"))
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    want = ort_run_model(shape_chain_model(), {"x": x})[0]
    got = executor.run(graph, {"x": x})["y"]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert executor.run(converted, {"x": x})["y"].shape == want.shape  # the reference specialises on its own


def test_bindings_are_checked_in_one_line(converted):
    with pytest.raises(InputError, match="rank 4"):
        symbolic.bind(converted, {"x": (1, 3, 8)})
    with pytest.raises(InputError, match=r"dim 1 is 3"):
        symbolic.bind(converted, {"x": (1, 4, 8, 8)})
    two = _model([helper.make_node("Add", ["a", "b"], ["y"])], [("a", ["N", 4]), ("b", ["N", 4])], [("y", None)])
    graph = _symbolic_graph(two)
    assert symbolic.bind(graph, {"a": (3, 4), "b": (3, 4)}) == {"N": 3}
    with pytest.raises(InputError, match="N is 3 in input 'a'"):
        symbolic.bind(graph, {"a": (3, 4), "b": (5, 4)})


def _symbolic_graph(model):
    import tempfile
    from pathlib import Path

    import onnx

    with tempfile.TemporaryDirectory() as d:
        onnx.save(model, Path(d) / "m.onnx")
        return convert.convert(Path(d) / "m.onnx")


def test_a_conversion_that_depends_on_the_size_is_refused():
    """Squeeze without axes squeezes every dim of size 1: at batch 1 the batch, at batch 2 not — the two probe
    conversions differ, and pymace says where instead of keeping a graph that is right at one size only."""
    model = _model([helper.make_node("Squeeze", ["x"], ["y"])], [("x", ["N", 4])], [("y", None)], opset=11)
    with pytest.raises(ConvertError, match="depends on the input's size.*input-shape"):
        _symbolic_graph(model)


def test_shapes_the_model_cannot_take_are_refused():
    """Pool by 2, upsample by 2, add the input back (a feature pyramid's skip): any even size works, an odd one
    cannot, and says which node."""
    nodes = [helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Resize", ["p", "", "scales"], ["u"], mode="nearest"),
             helper.make_node("Add", ["u", "x"], ["y"])]
    model = _model(nodes, [("x", ["N", 2, "H", "W"])], [("y", ["N", 2, "H", "W"])],
                   {"scales": np.array([1, 1, 2, 2], np.float32)})
    graph = _symbolic_graph(model)
    assert symbolic.specialize(graph, {"x": (2, 2, 6, 10)}).tensors["y"].shape == (2, 2, 6, 10)
    with pytest.raises((ConvertError, ModelError), match="Add"):
        symbolic.specialize(graph, {"x": (2, 2, 7, 10)})


def test_probe_bindings_differ_everywhere():
    declared = {"x": ("N", 3, "H", "W"), "m": ("N", "T")}
    a, b = symbolic.probe_binding(declared, 0), symbolic.probe_binding(declared, 1)
    assert a == {"N": 1, "H": 224, "W": 256, "T": 288}
    assert all(a[s] != b[s] for s in a) and len(set(b.values())) == len(b)
