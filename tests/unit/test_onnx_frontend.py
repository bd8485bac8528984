"""The ONNX frontend on small hand-built models: opset variants of static parameters, export quirks, metadata,
and the errors untrusted files must give (one PymaceError line, never a crash)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pymace.errors import ConvertError, InputError, ModelError, PymaceError, UnsupportedOpError
from pymace.frontends import onnx as onnx_frontend
from pymace.reference import executor
from pymace.tools import zoo
from tests.helpers import ort_run_model


def _model(nodes, inputs, outputs, inits=(), opset=13) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _check(model, shapes: dict, seed=0, input_shapes=None):
    """Frontend + reference executor against onnxruntime on fresh random inputs; returns the graph."""
    graph = onnx_frontend.load(model, input_shapes)
    rng = np.random.default_rng(seed)
    feeds = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    want = ort_run_model(model, feeds)
    got = executor.run(graph, feeds)
    for name, w in zip(graph.outputs, want):
        np.testing.assert_allclose(got[name], w, rtol=1e-5, atol=1e-5 * np.abs(w).max())
    return graph


@pytest.mark.parametrize("opset", [9, 11, 13])
def test_clip_min_max_become_attributes(opset):
    if opset < 11:
        node = helper.make_node("Clip", ["x"], ["y"], min=-0.5, max=0.7)
        inits = {}
    else:
        node = helper.make_node("Clip", ["x", "lo", "hi"], ["y"])
        inits = {"lo": np.float32(-0.5), "hi": np.float32(0.7)}
    graph = _check(_model([node], [("x", [2, 3, 4])], ["y"], inits, opset), {"x": [2, 3, 4]})
    assert graph.nodes[0].attrs == {"min": -0.5, "max": pytest.approx(0.7)}
    assert graph.nodes[0].inputs == ["x"]


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_axes_as_attribute_or_input(opset):
    axes = np.array([0, 2], np.int64)
    as_input = opset >= 13
    unsq = helper.make_node("Unsqueeze", ["x", "ax"] if as_input else ["x"], ["u"], **({} if as_input else
                                                                                      {"axes": [0, 2]}))
    sq = helper.make_node("Squeeze", ["u", "ax"] if as_input else ["u"], ["s"], **({} if as_input else
                                                                                  {"axes": [0, 2]}))
    red_input = opset >= 18
    red = helper.make_node("ReduceMean", ["s", "rax"] if red_input else ["s"], ["y"], keepdims=0,
                           **({} if red_input else {"axes": [1]}))
    inits = {"ax": axes, "rax": np.array([1], np.int64)}
    graph = _check(_model([unsq, sq, red], [("x", [3, 5])], ["y"], inits, opset), {"x": [3, 5]})
    assert [n.attrs.get("axes") for n in graph.nodes] == [[0, 2], [0, 2], [1]]


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_split_sizes_become_attribute(opset):
    if opset < 13:
        node = helper.make_node("Split", ["x"], ["a", "b"], axis=1, split=[2, 5])
    elif opset < 18:
        node = helper.make_node("Split", ["x", "sp"], ["a", "b"], axis=1)
    else:
        node = helper.make_node("Split", ["x"], ["a", "b"], axis=1, num_outputs=2)
    graph = _check(_model([node], [("x", [2, 7, 3])], ["a", "b"], {"sp": np.array([2, 5], np.int64)}, opset),
                   {"x": [2, 7, 3]})
    assert graph.nodes[0].attrs["split"] == ([2, 5] if opset < 18 else [4, 3])


def test_slice_pad_resize_inputs_become_attributes():
    nodes = [helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["s"]),
             helper.make_node("Pad", ["s", "pads", "val"], ["p"], mode="constant"),
             helper.make_node("Resize", ["p", "", "sc"], ["y"], mode="nearest")]
    inits = {"st": np.array([1, -1], np.int64), "en": np.array([7, 0], np.int64), "ax": np.array([2, 3], np.int64),
             "sp": np.array([2, -2], np.int64), "pads": np.array([0, 0, 1, 2, 0, 0, 0, 1], np.int64),
             "val": np.float32(0.5), "sc": np.array([1, 1, 2, 2], np.float32)}
    graph = _check(_model(nodes, [("x", [1, 2, 8, 9])], ["y"], inits, 13), {"x": [1, 2, 8, 9]})
    assert all(n.inputs == [n.inputs[0]] for n in graph.nodes)
    assert graph.nodes[1].attrs["value"] == 0.5 and graph.nodes[2].attrs["scales"] == [1, 1, 2, 2]


def test_upsample_becomes_resize():
    node = helper.make_node("Upsample", ["x", "sc"], ["y"], mode="nearest")
    graph = _check(_model([node], [("x", [1, 2, 3, 4])], ["y"], {"sc": np.array([1, 1, 2, 3], np.float32)}, 9),
                   {"x": [1, 2, 3, 4]})
    assert graph.nodes[0].op_type == "Resize" and graph.nodes[0].attrs["scales"] == [1, 1, 2, 3]


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
def test_auto_pad_becomes_explicit_pads(auto_pad):
    w = np.random.default_rng(1).standard_normal((4, 3, 3, 2)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], auto_pad=auto_pad, strides=[2, 2]),
             helper.make_node("MaxPool", ["c"], ["y"], auto_pad=auto_pad, kernel_shape=[2, 3], strides=[2, 1])]
    graph = _check(_model(nodes, [("x", [1, 3, 9, 8])], ["y"], {"w": w}, 11), {"x": [1, 3, 9, 8]})
    assert all("auto_pad" not in n.attrs and len(n.attrs["pads"]) == 4 for n in graph.nodes)


def test_constant_nodes_batchnorm_extra_outputs_dropout_identity():
    rng = np.random.default_rng(2)
    consts = [helper.make_node("Constant", [], [k], value=numpy_helper.from_array(v, k)) for k, v in {
        "s": rng.uniform(0.5, 1, 3).astype(np.float32), "b": rng.standard_normal(3).astype(np.float32),
        "m": rng.standard_normal(3).astype(np.float32), "v": rng.uniform(0.5, 1, 3).astype(np.float32)}.items()]
    nodes = consts + [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"], epsilon=1e-3),
                      helper.make_node("Dropout", ["bn"], ["d", "mask"]),
                      helper.make_node("Identity", ["d"], ["y"])]
    graph = _check(_model(nodes, [("x", [2, 3, 4, 5])], ["y"], {}, 11), {"x": [2, 3, 4, 5]})
    assert [n.op_type for n in graph.nodes] == ["BatchNormalization", "Identity", "Identity"]
    assert graph.tensors["s"].is_const


def test_softmax_before_opset13_flattens_at_axis():
    node = helper.make_node("Softmax", ["x"], ["y"], axis=1)
    _check(_model([node], [("x", [2, 3, 4])], ["y"], {}, 11), {"x": [2, 3, 4]})


def test_nhwc_input_with_transpose_and_shape_arithmetic():
    """keras2onnx-style NHWC input and Paddle-style Shape → Gather → Concat → Reshape, folded at import."""
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
             helper.make_node("Shape", ["t"], ["shp"]),
             helper.make_node("Gather", ["shp", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
             helper.make_node("Cast", ["target"], ["target64"], to=TensorProto.INT64),
             helper.make_node("Reshape", ["t", "target64"], ["y"])]
    inits = {"zero": np.array(0, np.int64), "ax0": np.array([0], np.int64), "minus1": np.array([-1], np.int64)}
    graph = _check(_model(nodes, [("x", ["N", "H", "W", 3])], ["y"], inits, 13), {"x": [2, 5, 4, 3]},
                   input_shapes={"x": [2, 5, 4, 3]})
    assert [n.op_type for n in graph.nodes] == ["Transpose", "Reshape"]
    assert graph.nodes[1].attrs["shape"] == [2, -1]


def test_symbolic_dims_are_kept_unless_input_shapes_fix_them():
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [("x", ["p2o.DynamicDimension.0", 3, "unk__1"])],
                   ["y"])
    graph = onnx_frontend.load(model)  # imported at the first probe binding, the declared dims recorded
    assert graph.metadata["input_dims"] == {"x": ["p2o.DynamicDimension.0", 3, "unk__1"]}
    assert graph.tensors["x"].shape == (1, 3, 224)
    assert onnx_frontend.load(model, probe=1).tensors["x"].shape == (2, 3, 352)
    renamed = onnx_frontend.load(model, {"x": ["N", 3, 7]})
    assert renamed.metadata["input_dims"] == {"x": ["N", 3, 7]} and renamed.tensors["x"].shape == (1, 3, 7)
    unknown_rank = _model([helper.make_node("Relu", ["x"], ["y"])], [("x", None)], ["y"])
    with pytest.raises(ConvertError, match="input 'x'.*unknown rank.*input_shapes"):
        onnx_frontend.load(unknown_rank)
    with pytest.raises(ConvertError, match="declares"):
        onnx_frontend.load(model, {"x": [1, 4, 5]})
    with pytest.raises(ConvertError, match="nope"):
        onnx_frontend.load(model, {"nope": [1]})
    assert onnx_frontend.load(model, {"x": [2, 3, 7]}).tensors["x"].shape == (2, 3, 7)


def test_metadata_recorded(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_model([helper.make_node("Relu", ["x"], ["y"])], [("x", [1, 2])], ["y"], {}, 12), path)
    meta = onnx_frontend.load(path).metadata
    assert meta["framework"] == "onnx" and meta["opset"] == 12 and meta["source_file"] == str(path)
    assert meta["source_sha256"] == zoo.sha256_file(path)


def test_truncated_and_garbage_files_are_model_errors(tmp_path):
    data = zoo.source("mtcnn_rnet").read_bytes()
    for cut in (len(data) // 2, len(data) - 7, 100, 3):
        bad = tmp_path / f"cut{cut}.onnx"
        bad.write_bytes(data[:cut])
        with pytest.raises(PymaceError) as e:
            onnx_frontend.load(bad, {"input_2": [1, 24, 24, 3]})
        assert "\n" not in str(e.value)
    (tmp_path / "junk.onnx").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelError):
        onnx_frontend.load(tmp_path / "junk.onnx")
    with pytest.raises(ModelError, match="no such file"):
        onnx_frontend.load(tmp_path / "missing.onnx")


def test_unsupported_ops_listed_with_node_names():
    nodes = [helper.make_node("LRN", ["x"], ["a"], size=3, name="norm1"),
             helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("LRN", ["b"], ["c"], size=3, name="norm2"),
             helper.make_node("Einsum", ["c"], ["y"], equation="ij->ji", name="mix")]
    with pytest.raises(UnsupportedOpError) as e:
        onnx_frontend.load(_model(nodes, [("x", [1, 3, 4, 4])], ["y"]))
    msg = str(e.value)
    assert "LRN" in msg and "norm1" in msg and "norm2" in msg and "Einsum" in msg and "mix" in msg
    assert "Relu" not in msg.split("pymace supports")[0]
    assert e.value.unsupported == {"Einsum": ["mix"], "LRN": ["norm1", "norm2"]}


def test_wrong_input_shape_is_input_error():
    graph = onnx_frontend.load(zoo.source("mtcnn_rnet"), {"input_2": [1, 24, 24, 3]})
    with pytest.raises(InputError, match="input_2"):
        executor.run(graph, {"input_2": np.zeros((1, 3, 24, 24), np.float32)})
