"""The ONNX frontend on small hand-built models: opset variants of static parameters, export quirks, metadata,
and the errors untrusted files must give (one PymaceError line, never a crash)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from pymace.errors import ConvertError, InputError, ModelError, PymaceError, UnsupportedOpError
from pymace.frontends import onnx as onnx_frontend
from pymace.reference import executor
from pymace.tools import zoo
from tests.helpers import make_model, ort_run_model


def _model(nodes, inputs, outputs, inits=(), opset=13) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()])
    return make_model(graph, opset)


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
    nodes = [helper.make_node("Unique", ["x"], ["a"], name="norm1"),
             helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Unique", ["b"], ["c"], name="norm2"),
             helper.make_node("NonMaxSuppression", ["c", "c"], ["y"], name="nms")]
    with pytest.raises(UnsupportedOpError) as e:
        onnx_frontend.load(_model(nodes, [("x", [1, 3, 4, 4])], ["y"]))
    msg = str(e.value)
    assert "Unique" in msg and "norm1" in msg and "norm2" in msg and "NonMaxSuppression" in msg and "nms" in msg
    assert "Relu" not in msg.split("pymace supports")[0]
    assert e.value.unsupported == {"NonMaxSuppression": ["nms"], "Unique": ["norm1", "norm2"]}


def test_wrong_input_shape_is_input_error():
    graph = onnx_frontend.load(zoo.source("mtcnn_rnet"), {"input_2": [1, 24, 24, 3]})
    with pytest.raises(InputError, match="input_2"):
        executor.run(graph, {"input_2": np.zeros((1, 3, 24, 24), np.float32)})


@pytest.mark.parametrize("equation,shapes", [
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bhid,bhjd->bhij", [(2, 3, 5, 4), (2, 3, 6, 4)]),
    ("bhij,bhjd->bhid", [(2, 3, 5, 6), (2, 3, 6, 4)]),
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,kj->ik", [(3, 4), (5, 4)]),
    ("bid,bjd->bji", [(2, 3, 4), (2, 5, 4)]),
    ("...ij,...jk->...ik", [(2, 3, 4, 5), (2, 3, 5, 6)]),
    ("bij,jk", [(2, 3, 4), (4, 5)]),
    ("nchw->nhwc", [(2, 3, 4, 5)]),
    ("bij->bj", [(2, 3, 4)]),
    ("ij,ij->i", [(3, 4), (3, 4)]),
])
def test_einsum_lowers_to_transpose_reshape_matmul(equation, shapes):
    names = [f"x{i}" for i in range(len(shapes))]
    node = helper.make_node("Einsum", names, ["y"], equation=equation)
    graph = _check(_model([node], list(zip(names, shapes)), ["y"], opset=12), dict(zip(names, shapes)))
    assert {n.op_type for n in graph.nodes} <= {"Transpose", "Reshape", "MatMul"}


@pytest.mark.parametrize("equation,why", [("bii->bi", "diagonal"), ("ij,jk,kl->il", "3 operands")])
def test_einsum_unsupported_names_the_equation(equation, why):
    shapes = [(2, 3, 3)] if equation == "bii->bi" else [(2, 3), (3, 4), (4, 5)]
    names = [f"x{i}" for i in range(len(shapes))]
    model = _model([helper.make_node("Einsum", names, ["y"], equation=equation)], list(zip(names, shapes)), ["y"],
                   opset=12)
    with pytest.raises(ConvertError, match=f"Einsum '{equation}' is not supported: .*{why}"):
        onnx_frontend.load(model)


@pytest.mark.parametrize("opset", [9, 11])
def test_topk_k_as_attribute_or_input(opset):
    if opset < 10:
        node, inits = helper.make_node("TopK", ["x"], ["v", "i"], axis=1, k=3), {}
    else:
        node, inits = helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=1), {"k": np.array([3], np.int64)}
    model = _model([node], [("x", [2, 7])], ["v", "i"], inits, opset)
    model.graph.output[1].type.tensor_type.elem_type = TensorProto.INT64
    graph = _check(model, {"x": [2, 7]})
    assert graph.nodes[0].op_type == "TopK" and graph.tensors[graph.nodes[0].inputs[1]].data.tolist() == [3]


def test_conv1d_runs_as_a_2d_conv_of_height_one():
    w, b = np.random.default_rng(3).standard_normal((6, 2, 3)).astype(np.float32), np.arange(6, dtype=np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3], strides=[2], pads=[1, 2], group=2)
    graph = _check(_model([node], [("x", [2, 4, 11])], ["y"], {"w": w, "b": b}), {"x": [2, 4, 11]})
    conv = next(n for n in graph.nodes if n.op_type == "Conv")
    assert conv.attrs["kernel_shape"] == [1, 3] and conv.attrs["pads"] == [0, 1, 0, 2]


@pytest.mark.parametrize("op", ["LSTM", "GRU"])
def test_rnn_layout1_and_unnamed_outputs(op):
    gates, hidden, rng = (4 if op == "LSTM" else 3), 5, np.random.default_rng(4)
    inits = {"W": rng.standard_normal((2, gates * hidden, 3)).astype(np.float32),
             "R": rng.standard_normal((2, gates * hidden, hidden)).astype(np.float32)}
    node = helper.make_node(op, ["x", "W", "R", "", "", "h0"], ["", "y_h"], hidden_size=hidden, layout=1,
                            direction="bidirectional")
    model = _model([node], [("x", [2, 4, 3]), ("h0", [2, 2, hidden])], ["y_h"], inits, opset=14)
    feeds = {"x": rng.standard_normal((2, 4, 3)).astype(np.float32),
             "h0": rng.standard_normal((2, 2, hidden)).astype(np.float32)}
    graph = onnx_frontend.load(model)
    want = ReferenceEvaluator(model).run(None, feeds)[0]  # onnxruntime does not run layout 1
    np.testing.assert_allclose(executor.run(graph, feeds)["y_h"], want, rtol=1e-5, atol=1e-6)
    assert sum(n.op_type == "Transpose" for n in graph.nodes) == 3  # X, initial_h in; Y_h out


@pytest.mark.parametrize("opset", [7, 9])
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_upsample_old_opsets(opset, mode):
    scales = [1.0, 1.0, 1.5, 2.5]
    if opset < 9:
        node, inits = helper.make_node("Upsample", ["x"], ["y"], mode=mode, scales=scales), {}
    else:
        node, inits = helper.make_node("Upsample", ["x", "s"], ["y"], mode=mode), {"s": np.array(scales, np.float32)}
    model = _model([node], [("x", [2, 2, 5, 4])], ["y"], inits, opset)
    model.ir_version = 7
    graph = _check(model, {"x": [2, 2, 5, 4]})
    assert graph.nodes[0].op_type == "Resize" and graph.tensors["y"].shape == (2, 2, 7, 10)


def _if_model(cond_is_input: bool) -> onnx.ModelProto:
    """y = If(c) then relu(x) @ w else x - 1, with c a constant or a bool graph input (known at run time)."""
    out = [helper.make_tensor_value_info("r", TensorProto.FLOAT, None)]
    then = helper.make_graph([helper.make_node("Relu", ["x"], ["t"]), helper.make_node("MatMul", ["t", "w"], ["r"])],
                             "then", [], out)
    other = helper.make_graph([helper.make_node("Sub", ["x", "one"], ["r"])], "else", [], out,
                              [numpy_helper.from_array(np.ones((3, 4), np.float32), "one")])
    inits = {"w": np.random.default_rng(5).standard_normal((4, 4)).astype(np.float32)}
    if not cond_is_input:
        inits["c"] = np.array([True])
    model = _model([helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)], [("x", [3, 4])],
                   ["y"], inits, opset=13)
    if cond_is_input:
        model.graph.input.append(helper.make_tensor_value_info("c", TensorProto.BOOL, [1]))
    return model


def test_if_with_a_constant_condition_inlines_the_taken_branch():
    graph = _check(_if_model(False), {"x": [3, 4]})
    assert [n.op_type for n in graph.nodes] == ["Relu", "MatMul", "Identity"]


@pytest.mark.parametrize("cond", [True, False])
def test_if_with_a_run_time_condition_selects_between_both_branches(cond):
    model = _if_model(True)
    graph = onnx_frontend.load(model)
    feeds = {"x": np.random.default_rng(6).standard_normal((3, 4)).astype(np.float32), "c": np.array([cond])}
    want = ort_run_model(model, feeds)[0]
    np.testing.assert_allclose(executor.run(graph, feeds)["y"], want, rtol=1e-6, atol=1e-6)
    assert graph.nodes[-1].op_type == "Where"


def test_if_with_branches_of_different_shapes_is_refused():
    model = _if_model(True)
    other = next(a.g for a in model.graph.node[0].attribute if a.name == "else_branch")
    other.node[0].CopyFrom(helper.make_node("ReduceMean", ["x"], ["r"]))  # a [1, 1] output
    with pytest.raises(ConvertError, match="known only at run time and output 0 has shape"):
        onnx_frontend.load(model)


@pytest.mark.parametrize("cond", [True, False])
def test_nested_if_reads_its_outer_branch_tensors(cond):
    """An If inside a branch reads a tensor that branch computes (Silero VAD's decoder): inlining the outer branch
    renames it, and the inner branch must read the renamed tensor. Size of a known shape is a constant."""
    out = [helper.make_tensor_value_info("r", TensorProto.FLOAT, None)]
    inner_then = helper.make_graph([helper.make_node("Mul", ["t", "t"], ["r"])], "inner_then", [], out)
    inner_else = helper.make_graph([helper.make_node("Neg", ["t"], ["r"])], "inner_else", [], out)
    outer_then = helper.make_graph([
        helper.make_node("Relu", ["x"], ["t"]),
        helper.make_node("Size", ["t"], ["n"]),
        helper.make_node("Equal", ["n", "twelve"], ["inner_c"]),
        helper.make_node("If", ["inner_c"], ["r"], then_branch=inner_then, else_branch=inner_else)],
        "outer_then", [], out, [numpy_helper.from_array(np.array(12, np.int64), "twelve")])
    outer_else = helper.make_graph([helper.make_node("Sigmoid", ["x"], ["r"])], "outer_else", [], out)
    model = _model([helper.make_node("If", ["c"], ["y"], then_branch=outer_then, else_branch=outer_else)],
                   [("x", [3, 4])], ["y"], opset=13)
    model.graph.input.append(helper.make_tensor_value_info("c", TensorProto.BOOL, [1]))
    graph = onnx_frontend.load(model)
    feeds = {"x": np.random.default_rng(8).standard_normal((3, 4)).astype(np.float32), "c": np.array([cond])}
    want = ort_run_model(model, feeds)[0]
    np.testing.assert_allclose(executor.run(graph, feeds)["y"], want, rtol=1e-6, atol=1e-6)
    assert "Neg" not in {n.op_type for n in graph.nodes}  # Size 12 folded the inner condition


@pytest.mark.parametrize("bounds", ["min", "max", "both"])
def test_clip_with_a_bound_computed_at_run_time_becomes_max_and_min(bounds):
    """openWakeWord's mel front end clips at (its maximum - 80 dB): the bound is a tensor, not a constant."""
    nodes = [helper.make_node("ReduceMax", ["x"], ["top"], keepdims=0), helper.make_node("Sub", ["top", "db"], ["lo"]),
             helper.make_node("Add", ["top", "db"], ["hi"]),
             helper.make_node("Clip", ["x", "lo" if bounds != "max" else "", "hi" if bounds != "min" else ""], ["y"])]
    graph = _check(_model(nodes, [("x", [2, 3, 17])], ["y"], {"db": np.float32(1.5)}), {"x": [2, 3, 17]})
    kinds = [n.op_type for n in graph.nodes]
    assert "Clip" not in kinds and ("Max" in kinds) == (bounds != "max") and ("Min" in kinds) == (bounds != "min")


def test_group_normalization_opset18_per_group_scale_becomes_per_channel():
    from onnx.reference import ReferenceEvaluator

    rng = np.random.default_rng(5)
    inits = {"s": rng.uniform(0.5, 1.5, 3).astype(np.float32), "b": rng.standard_normal(3).astype(np.float32)}
    node = helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=3, epsilon=1e-3)
    model = _model([node], [("x", [2, 6, 4, 5])], ["y"], inits, opset=18)
    x = rng.standard_normal((2, 6, 4, 5)).astype(np.float32)
    graph = onnx_frontend.load(model)
    scale = graph.tensors[graph.nodes[0].inputs[1]].data
    np.testing.assert_array_equal(scale, np.repeat(inits["s"], 2))
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(executor.run(graph, {"x": x})["y"], want, rtol=1e-5, atol=1e-5)
