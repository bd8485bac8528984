"""Every pass keeps the graph's outputs unchanged on random inputs, and does its rewrite."""
from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from pymace import Engine, passes
from pymace.frontends import onnx as onnx_frontend
from pymace.reference import executor
from tests.helpers import make_model, opencl_devices


def _graph(nodes, x_shape, outputs, inits, opset=13):
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return onnx_frontend.load(make_model(g, opset))


def _same_outputs(graph, seed=0, pipeline=None):
    """Run the passes; assert the outputs match the unrewritten graph; return the rewritten graph."""
    x = np.random.default_rng(seed).standard_normal(graph.tensors["x"].shape).astype(np.float32) * 3
    before = executor.run(graph, {"x": x})
    after_graph = passes.run(copy.deepcopy(graph), pipeline)
    after = executor.run(after_graph, {"x": x})
    assert list(after) == list(before)
    for k in before:
        np.testing.assert_allclose(after[k], before[k], rtol=1e-5, atol=1e-5 * (np.abs(before[k]).max() + 1e-30))
    return after_graph


ACTIVATIONS = {
    "Relu": ({}, {}), "Sigmoid": ({}, {}), "Tanh": ({}, {}), "HardSwish": ({}, {}),
    "HardSigmoid": ({"alpha": 0.3, "beta": 0.4}, {}), "LeakyRelu": ({"alpha": 0.2}, {}),
    "Clip": ({}, {"lo": np.float32(-0.5), "hi": np.float32(1.5)}),
    "PRelu": ({}, {"slope": None}),
}


@settings(max_examples=25, deadline=None)
@given(act=st.sampled_from(sorted(ACTIVATIONS)), producer=st.sampled_from(["Conv", "Add", "Mul", "MatMulAdd"]),
       channels=st.integers(1, 5), bn=st.booleans(), seed=st.integers(0, 2**16))
def test_conv_bn_activation_fusion(act, producer, channels, bn, seed):
    rng = np.random.default_rng(seed)
    attrs, extra = ACTIVATIONS[act]
    inits = {"w": rng.standard_normal((channels, 3, 3, 3)).astype(np.float32),
             "k": rng.standard_normal((1, channels, 1, 1)).astype(np.float32),
             "s": rng.uniform(0.5, 1.5, channels).astype(np.float32), "b": rng.standard_normal(channels).astype(
                 np.float32), "m": rng.standard_normal(channels).astype(np.float32),
             "v": rng.uniform(0.5, 1.5, channels).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1])]
    last = "c"
    if bn:
        nodes.append(helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"]))
        last = "n"
    if producer in ("Add", "Mul"):
        nodes.append(helper.make_node(producer, [last, "k"], ["p"]))
        last = "p"
    act_inputs = [last]
    if act == "Clip":
        act_inputs += ["lo", "hi"]
    if act == "PRelu":
        inits["slope"] = rng.uniform(0, 0.5, (channels, 1, 1)).astype(np.float32)
        act_inputs.append("slope")
    inits.update({k: v for k, v in extra.items() if v is not None})
    nodes.append(helper.make_node(act, act_inputs, ["y"], **attrs))
    graph = _graph(nodes, [2, 3, 6, 5], ["y"], inits)
    after = _same_outputs(graph, seed)
    assert [n.op_type for n in after.nodes][-1] != act, "activation was not fused"
    assert after.nodes[-1].attrs["activation"] == act and after.nodes[-1].outputs == ["y"]
    if bn and producer not in ("Add", "Mul"):
        assert [n.op_type for n in after.nodes] == ["Conv"]


def test_no_fusion_into_a_tensor_with_two_readers_or_a_graph_output():
    w = np.random.default_rng(0).standard_normal((4, 3, 1, 1)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Sigmoid", ["c"], ["s"])]
    after = _same_outputs(_graph(nodes, [1, 3, 4, 4], ["r", "s"], {"w": w}))
    assert [n.op_type for n in after.nodes] == ["Conv", "Relu", "Sigmoid"]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["r"])]
    after = _same_outputs(_graph(nodes, [1, 3, 4, 4], ["c", "r"], {"w": w}))
    assert [n.op_type for n in after.nodes] == ["Conv", "Relu"]


@settings(max_examples=12, deadline=None)
@given(form=st.sampled_from(["div6", "mul_sixth", "gate_div", "hardsigmoid", "swapped"]), seed=st.integers(0, 999))
def test_hardswish_patterns(form, seed):
    inits = {"three": np.float32(3), "zero": np.float32(0), "six": np.float32(6), "sixth": np.float32(1 / 6)}
    relu6 = [helper.make_node("Add", ["x", "three"] if form != "swapped" else ["three", "x"], ["a"]),
             helper.make_node("Clip", ["a", "zero", "six"], ["r6"])]
    if form in ("div6", "swapped"):
        nodes = relu6 + [helper.make_node("Mul", ["x", "r6"] if form == "div6" else ["r6", "x"], ["m"]),
                         helper.make_node("Div", ["m", "six"], ["y"])]
    elif form == "mul_sixth":
        nodes = relu6 + [helper.make_node("Mul", ["r6", "x"], ["m"]), helper.make_node("Mul", ["m", "sixth"], ["y"])]
    elif form == "gate_div":
        nodes = relu6 + [helper.make_node("Div", ["r6", "six"], ["g"]), helper.make_node("Mul", ["x", "g"], ["y"])]
    else:
        nodes = [helper.make_node("HardSigmoid", ["x"], ["g"], alpha=1 / 6, beta=0.5),
                 helper.make_node("Mul", ["g", "x"], ["y"])]
    after = _same_outputs(_graph(nodes, [2, 3, 4], ["y"], inits), seed)
    assert [n.op_type for n in after.nodes] == ["HardSwish"]


def test_hardswish_not_fused_when_an_intermediate_is_read_elsewhere():
    inits = {"three": np.float32(3), "zero": np.float32(0), "six": np.float32(6)}
    nodes = [helper.make_node("Add", ["x", "three"], ["a"]), helper.make_node("Clip", ["a", "zero", "six"], ["r6"]),
             helper.make_node("Mul", ["x", "r6"], ["m"]), helper.make_node("Div", ["m", "six"], ["y"])]
    after = _same_outputs(_graph(nodes, [2, 3], ["y", "r6"], inits))
    assert "HardSwish" not in [n.op_type for n in after.nodes]


@settings(max_examples=15, deadline=None)
@given(pads=st.lists(st.integers(0, 2), min_size=4, max_size=4), pool=st.sampled_from(["Conv", "AveragePool",
                                                                                       "MaxPool"]),
       seed=st.integers(0, 999))
def test_pad_folding(pads, pool, seed):
    w = np.random.default_rng(seed).standard_normal((2, 3, 3, 3)).astype(np.float32)
    full = [0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]]
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], mode="constant"),
             helper.make_node(pool, ["p", "w"] if pool == "Conv" else ["p"], ["y"],
                              **({} if pool == "Conv" else {"kernel_shape": [3, 3]}))]
    after = _same_outputs(_graph(nodes, [1, 3, 7, 6], ["y"], {"w": w, "pads": np.array(full, np.int64)}), seed)
    assert ("Pad" in [n.op_type for n in after.nodes]) == (pool == "MaxPool" and any(pads))


def test_transpose_pairs_identity_and_noop_reshape_removed():
    nodes = [helper.make_node("Transpose", ["x"], ["t1"], perm=[0, 2, 3, 1]),
             helper.make_node("Transpose", ["t1"], ["t2"], perm=[0, 3, 1, 2]),
             helper.make_node("Identity", ["t2"], ["i"]),
             helper.make_node("Reshape", ["i", "shape"], ["r"]),
             helper.make_node("Relu", ["r"], ["y"])]
    after = _same_outputs(_graph(nodes, [1, 3, 4, 5], ["y"], {"shape": np.array([1, 3, 4, 5], np.int64)}))
    assert [n.op_type for n in after.nodes] == ["Relu"] and after.nodes[0].inputs == ["x"]


@pytest.mark.parametrize("x_shape, perm, reshaped", [([1, 7, 6], [1, 0, 2], True), ([7, 1, 6], [1, 0, 2], True),
                                                     ([2, 1, 3, 1], [0, 3, 2, 1], True), ([2, 3, 4], [1, 0, 2], False),
                                                     ([1, 3, 4, 1], [0, 2, 1, 3], False)])
def test_a_transpose_moving_only_ones_is_a_reshape(x_shape, perm, reshaped):
    """torch's batch-first attention: [1, T, D] ↔ [T, 1, D] moves no byte; a real permutation stays."""
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=perm), helper.make_node("Relu", ["t"], ["y"])]
    after = _same_outputs(_graph(nodes, x_shape, ["y"], {}))
    assert ("Transpose" not in [n.op_type for n in after.nodes]) == reshaped


def test_two_transposes_in_a_row_are_one():
    nodes = [helper.make_node("Transpose", ["x"], ["t1"], perm=[0, 2, 1, 3]),
             helper.make_node("Transpose", ["t1"], ["t2"], perm=[0, 1, 3, 2]), helper.make_node("Relu", ["t2"], ["y"])]
    after = _same_outputs(_graph(nodes, [2, 3, 4, 5], ["y"], {}))
    assert [n.op_type for n in after.nodes] == ["Transpose", "Relu"] and after.nodes[0].inputs == ["x"]


@pytest.mark.parametrize("starts, ends, axes, steps, kept", [
    ([0], [56], [1], [1], True), ([0, 0], [2**62, 9], [1, 2], [1, 1], True), ([0], [-1], [1], [1], False),
    ([1], [9], [2], [1], False), ([0], [9], [2], [2], False), ([-1], [-10], [2], [-1], False)])
def test_a_slice_that_keeps_every_element_is_removed(starts, ends, axes, steps, kept):
    """Swin's crop of its padding to the size it already has: two copies a block, now none."""
    inits = {k: np.array(v, np.int64) for k, v in (("s", starts), ("e", ends), ("a", axes), ("st", steps))}
    nodes = [helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["c"]), helper.make_node("Relu", ["c"], ["y"])]
    after = _same_outputs(_graph(nodes, [1, 56, 9, 4], ["y"], inits))
    assert ("Slice" not in [n.op_type for n in after.nodes]) == kept


def _roll(axes_shifts, x_name="x", extra_reader=False):
    """torch.roll as torch exports it: per axis, Slice(x, -s:) and Slice(x, :-s), concatenated."""
    nodes, inits, last = [], {}, x_name
    for k, (axis, shift) in enumerate(axes_shifts):
        for name, (start, end) in (("a", (-shift, 2**62)), ("b", (0, -shift))):
            inits |= {f"{name}{k}s": np.array([start], np.int64), f"{name}{k}e": np.array([end], np.int64),
                      f"ax{k}": np.array([axis], np.int64)}
            nodes.append(helper.make_node("Slice", [last, f"{name}{k}s", f"{name}{k}e", f"ax{k}"], [f"{name}{k}"]))
        nodes.append(helper.make_node("Concat", [f"a{k}", f"b{k}"], [f"r{k}"], axis=axis))
        last = f"r{k}"
    nodes.append(helper.make_node("Relu", [last], ["y"]))
    outputs = ["y"]
    if extra_reader:
        nodes.append(helper.make_node("Sigmoid", ["a0"], ["z"]))
        outputs.append("z")
    return nodes, inits, outputs


@pytest.mark.parametrize("axes_shifts", [[(1, 3)], [(1, -3), (2, -3)], [(3, 1)]])
def test_a_roll_is_one_gather_an_axis(axes_shifts):
    nodes, inits, outputs = _roll(axes_shifts)
    graph = _graph(nodes, [1, 7, 6, 4], outputs, inits)
    after = _same_outputs(graph)
    assert [n.op_type for n in after.nodes] == ["Gather"] * len(axes_shifts) + ["Relu"]
    x = np.random.default_rng(1).standard_normal((1, 7, 6, 4)).astype(np.float32)
    want = executor.run(graph, {"x": x})["y"]
    for device in opencl_devices():  # the Gather kernel on the device, fp32 and fp16 (moves bits: exact)
        for data_type in ("fp32", "fp16"):
            got = Engine(after, device=device.selector, data_type=data_type).run({"x": x})["y"]
            np.testing.assert_allclose(got, want if data_type == "fp32" else want.astype(np.float16), rtol=1e-3)


def test_slices_with_another_reader_or_of_two_tensors_stay():
    nodes, inits, outputs = _roll([(1, 3)], extra_reader=True)
    after = _same_outputs(_graph(nodes, [1, 7, 6, 4], outputs, inits))
    assert "Concat" in [n.op_type for n in after.nodes]
    nodes = [helper.make_node("Relu", ["x"], ["x2"]),
             helper.make_node("Slice", ["x", "s", "e", "ax"], ["a"]),
             helper.make_node("Slice", ["x2", "s", "e", "ax"], ["b"]), helper.make_node("Concat", ["a", "b"], ["y"],
                                                                                          axis=1)]
    inits = {"s": np.array([1], np.int64), "e": np.array([4], np.int64), "ax": np.array([1], np.int64)}
    after = _same_outputs(_graph(nodes, [1, 7, 6, 4], ["y"], inits))
    assert "Concat" in [n.op_type for n in after.nodes]


def test_identity_before_a_graph_output_renames_its_producer():
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Identity", ["r"], ["y"])]
    after = _same_outputs(_graph(nodes, [2, 3], ["y"], {}))
    assert [(n.op_type, n.outputs) for n in after.nodes] == [("Relu", ["y"])]


def test_constant_folding_and_pruning():
    nodes = [helper.make_node("Add", ["c1", "c2"], ["c3"]), helper.make_node("Mul", ["x", "c3"], ["y"]),
             helper.make_node("Relu", ["x"], ["dead"])]
    graph = _graph(nodes, [2, 3], ["y"], {"c1": np.ones(3, np.float32), "c2": np.full(3, 2, np.float32)})
    after = _same_outputs(graph)
    assert [n.op_type for n in after.nodes] == ["Mul"] and after.tensors["c3"].data.tolist() == [3, 3, 3]
    assert "dead" not in after.tensors


def test_fold_constants_pass_on_an_ir_graph():
    """Frontends may leave constant subgraphs (and Shape of a known tensor): the pass folds them."""
    from pymace.ir.graph import Graph, Node, Tensor
    from pymace.passes import fold_constants

    c = np.arange(6, dtype=np.float32).reshape(2, 3)
    graph = Graph("g", [Node("shape", "Shape", ["x"], ["s"]), Node("neg", "Sub", ["c", "c2"], ["d"]),
                        Node("mul", "Mul", ["x", "d"], ["y"])],
                  {"x": Tensor("x", (2, 3)), "c": Tensor("c", (2, 3), data=c),
                   "c2": Tensor("c2", (2, 3), data=c * 3), "s": Tensor("s"), "d": Tensor("d"), "y": Tensor("y")},
                  ["x"], ["y", "s"])
    after = _same_outputs(graph, pipeline=[fold_constants])
    assert [n.op_type for n in after.nodes] == ["Mul"] and after.tensors["s"].data.tolist() == [2, 3]


@settings(max_examples=25, deadline=None)
@given(act=st.sampled_from([None, "Relu", "Clip", "PRelu"]), bias=st.booleans(), swap=st.booleans(),
       both_convs=st.booleans(), seed=st.integers(0, 2**16))
def test_residual_add_fuses_into_conv(act, bias, swap, both_convs, seed):
    """Add(Conv(x), r) [→ activation] becomes one Conv with a residual input, outputs unchanged."""
    rng = np.random.default_rng(seed)
    inits = {"w": rng.standard_normal((4, 4, 3, 3)).astype(np.float32),
             "w2": rng.standard_normal((4, 4, 1, 1)).astype(np.float32),
             "b": rng.standard_normal(4).astype(np.float32),
             "slope": rng.uniform(-0.5, 0.5, (4, 1, 1)).astype(np.float32),
             "lo": np.float32(0.0), "hi": np.float32(6.0)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"] if bias else ["x", "w"], ["c"], pads=[1, 1, 1, 1])]
    other = "x"
    if both_convs:  # ResNet's downsample branch: both operands come from convs
        nodes.append(helper.make_node("Conv", ["x", "w2"], ["d"]))
        other = "d"
    nodes.append(helper.make_node("Add", [other, "c"] if swap else ["c", other], ["s"]))
    if act == "Clip":
        nodes.append(helper.make_node("Clip", ["s", "lo", "hi"], ["y"]))
    elif act == "PRelu":
        nodes.append(helper.make_node("PRelu", ["s", "slope"], ["y"]))
    elif act:
        nodes.append(helper.make_node(act, ["s"], ["y"]))
    out = "y" if act else "s"
    after = _same_outputs(_graph(nodes, [1, 4, 6, 5], [out], inits), seed)
    assert [n.op_type for n in after.nodes].count("Add") == 0
    fused = [n for n in after.nodes if n.attrs.get("residual")]
    assert len(fused) == 1 and fused[0].attrs.get("activation") == act and fused[0].outputs == [out]


def test_residual_stays_when_the_conv_output_is_read_twice():
    rng = np.random.default_rng(3)
    inits = {"w": rng.standard_normal((4, 4, 3, 3)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c", "x"], ["s"]), helper.make_node("Mul", ["c", "s"], ["y"])]
    after = _same_outputs(_graph(nodes, [1, 4, 6, 5], ["y"], inits))
    assert [n.op_type for n in after.nodes].count("Add") == 1


# ---- fuse_separable: a plan-time pass for GPUs (passes.for_device) ----

GPU, CPU = type("Gpu", (), {"is_gpu": True})(), type("Cpu", (), {"is_gpu": False})()


def _block(rng, dw_act="Clip", pw_stride=1, extra_reader=False, dw_output_is_graph_output=False, dw_group=None):
    """MobileNetV2's inverted residual: 1x1 expand + ReLU6, 3x3 depthwise + `dw_act`, 1x1 project, + x."""
    c, e = 8, 24
    inits = {"we": rng.standard_normal((e, c, 1, 1)).astype(np.float32) * 0.3,
             "wd": rng.standard_normal((e, (dw_group and e // dw_group) or 1, 3, 3)).astype(np.float32) * 0.3,
             "bd": rng.standard_normal(e).astype(np.float32),
             "wp": rng.standard_normal((c, e, 1, 1)).astype(np.float32) * 0.3,
             "lo": np.float32(0.0), "hi": np.float32(6.0), "slope": np.float32([0.2])}
    act_inputs = {"Clip": ["lo", "hi"], "PRelu": ["slope"], "Relu": [], "HardSwish": []}
    nodes = [helper.make_node("Conv", ["x", "we"], ["e"]), helper.make_node("Clip", ["e", "lo", "hi"], ["e6"]),
             helper.make_node("Conv", ["e6", "wd", "bd"], ["d"], group=dw_group or 24, pads=[1, 1, 1, 1]),
             helper.make_node(dw_act, ["d", *act_inputs[dw_act]], ["d6"]),
             helper.make_node("Conv", ["d6", "wp"], ["p"], strides=[pw_stride] * 2)]
    outputs = ["y"]
    if pw_stride == 1:
        nodes.append(helper.make_node("Add", ["p", "x"], ["y"]))
    else:
        nodes.append(helper.make_node("Relu", ["p"], ["y"]))
    if extra_reader:
        nodes.append(helper.make_node("Relu", ["d6"], ["z"]))
        outputs.append("z")
    if dw_output_is_graph_output:
        outputs.append("d6")
    return passes.run(_graph(nodes, [1, 8, 10, 9], outputs, inits))


def _fused_same_outputs(graph, seed=0):
    fused = passes.for_device(graph, GPU)
    x = np.random.default_rng(seed).standard_normal(graph.tensors["x"].shape).astype(np.float32)
    before, after = executor.run(graph, {"x": x}), executor.run(fused, {"x": x})
    assert list(after) == list(before)
    for k in before:
        np.testing.assert_allclose(after[k], before[k], rtol=0, atol=1e-5 * np.abs(before[k]).max())
    return fused


@pytest.mark.parametrize("dw_act", ["Clip", "Relu"])
def test_depthwise_and_pointwise_fuse_on_a_gpu(dw_act):
    graph = _block(np.random.default_rng(4), dw_act)
    nodes_before = [n.op_type for n in graph.nodes]
    fused = _fused_same_outputs(graph)
    [node] = [n for n in fused.nodes if n.op_type == "SeparableConv"]
    assert [n.op_type for n in fused.nodes] == ["Conv", "SeparableConv"]
    assert node.attrs["residual"] and node.attrs["dw_activation"] == dw_act and node.attrs["pads"] == [1, 1, 1, 1]
    assert [n.op_type for n in graph.nodes] == nodes_before  # the model's own graph is left as it was
    assert passes.for_device(graph, CPU) is graph  # CPUs keep the two convs


def test_device_fusion_can_be_turned_off(monkeypatch):
    graph = _block(np.random.default_rng(5))
    monkeypatch.setenv("PYMACE_NO_DEVICE_FUSION", "1")
    assert passes.for_device(graph, GPU) is graph


@pytest.mark.parametrize("change", [dict(dw_act="HardSwish"), dict(dw_act="PRelu"), dict(pw_stride=2),
                                    dict(extra_reader=True), dict(dw_output_is_graph_output=True),
                                    dict(dw_group=12)],
                         ids=["hardswish", "prelu", "strided_1x1", "two_readers", "graph_output", "grouped"])
def test_no_separable_fusion_when_it_would_change_the_result_or_cannot(change):
    graph = _block(np.random.default_rng(6), **change)
    fused = _fused_same_outputs(graph)
    assert "SeparableConv" not in [n.op_type for n in fused.nodes]


def test_separable_fusion_leaves_a_1x1_conv_that_also_adds_the_depthwise_output():
    """y = conv1x1(d) + d with the Add fused as the 1x1 conv's residual: d has one reader, read twice."""
    rng = np.random.default_rng(8)
    inits = {"wd": rng.standard_normal((8, 1, 3, 3)).astype(np.float32),
             "wp": rng.standard_normal((8, 8, 1, 1)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "wd"], ["d"], group=8, pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["d", "wp"], ["p"]), helper.make_node("Add", ["p", "d"], ["y"])]
    graph = passes.run(_graph(nodes, [1, 8, 6, 7], ["y"], inits))
    assert [n.op_type for n in graph.nodes] == ["Conv", "Conv"] and graph.nodes[1].attrs.get("residual")
    fused = _fused_same_outputs(graph)
    assert "SeparableConv" not in [n.op_type for n in fused.nodes]


def test_separable_fusion_of_a_chain_of_one_channel_convs():
    """With one channel every conv is both a depthwise and a 1x1 conv: each may join one pair only."""
    rng = np.random.default_rng(9)
    inits = {f"w{i}": rng.standard_normal((1, 1, 1, 1)).astype(np.float32) for i in range(4)}
    nodes = [helper.make_node("Conv", ["x" if i == 0 else f"c{i - 1}", f"w{i}"], [f"c{i}" if i < 3 else "y"])
             for i in range(4)]
    graph = passes.run(_graph(nodes, [1, 1, 5, 5], ["y"], inits))
    fused = _fused_same_outputs(graph)
    assert [n.op_type for n in fused.nodes] == ["SeparableConv", "SeparableConv"]


@settings(max_examples=30, deadline=None)
@given(producer=st.sampled_from(["Conv", "ConvNoBias", "DepthwiseConv", "BatchNormalization"]),
       chain=st.lists(st.sampled_from(["Mul", "MulLeft", "Add", "AddLeft", "Sub", "Div", "MulScalar"]),
                      min_size=1, max_size=3),
       channels=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_per_channel_scales_and_shifts_fold_into_the_conv_or_bn_before_them(producer, chain, channels, seed):
    """passes/fold_channel_affine.py: a Caffe Scale (Mul, Add) after a Conv or a BN, as chains of one to three
    per-channel or scalar constants on either side, folds away with the same outputs; the ReLU after it fuses."""
    rng = np.random.default_rng(seed)
    group = channels if producer == "DepthwiseConv" else 1
    inits = {"w": rng.standard_normal((channels, 1 if producer == "DepthwiseConv" else 3, 3, 3)).astype(np.float32),
             "b": rng.standard_normal(channels).astype(np.float32),
             "g": rng.uniform(0.5, 1.5, channels).astype(np.float32), "m": rng.standard_normal(channels).astype(
                 np.float32), "v": rng.uniform(0.5, 1.5, channels).astype(np.float32)}
    x_channels = channels if producer in ("DepthwiseConv", "BatchNormalization") else 3
    if producer == "BatchNormalization":
        nodes = [helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["p0"])]
    else:
        nodes = [helper.make_node("Conv", ["x", "w"] + ([] if producer == "ConvNoBias" else ["b"]), ["p0"],
                                  pads=[1, 1, 1, 1], group=group)]
    for k, op in enumerate(chain):
        c = f"c{k}"
        inits[c] = (np.float32(rng.uniform(0.5, 2.0)) if op == "MulScalar" else
                    rng.uniform(0.5, 2.0, (channels, 1, 1)).astype(np.float32))
        ins = [c, f"p{k}"] if op.endswith("Left") else [f"p{k}", c]
        nodes.append(helper.make_node(op.removesuffix("Left").removesuffix("Scalar"), ins, [f"p{k + 1}"]))
    nodes.append(helper.make_node("Relu", [f"p{len(chain)}"], ["y"]))
    graph = _graph(nodes, [1, x_channels, 6, 5], ["y"], inits)
    after = _same_outputs(graph, seed)
    assert [n.op_type for n in after.nodes] == ["BatchNormalization" if producer == "BatchNormalization" else "Conv"]
    assert after.nodes[0].attrs["activation"] == "Relu"


def test_a_scale_stays_when_it_is_not_per_channel_or_the_conv_output_is_read_twice():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, 3, 1, 1)).astype(np.float32)
    per_pixel = rng.uniform(0.5, 1.5, (1, 1, 4, 4)).astype(np.float32)  # varies over pixels: not a channel scale
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Mul", ["c", "s"], ["y"])]
    after = _same_outputs(_graph(nodes, [1, 3, 4, 4], ["y"], {"w": w, "s": per_pixel}))
    assert [n.op_type for n in after.nodes] == ["Conv", "Mul"]
    per_channel = rng.uniform(0.5, 1.5, (4, 1, 1)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Mul", ["c", "s"], ["y"]),
             helper.make_node("Relu", ["c"], ["r"])]
    after = _same_outputs(_graph(nodes, [1, 3, 4, 4], ["y", "r"], {"w": w, "s": per_channel}))
    assert sorted(n.op_type for n in after.nodes) == ["Conv", "Mul", "Relu"]  # two readers: nothing folds
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Sub", ["s", "c"], ["y"])]  # s − x
    after = _same_outputs(_graph(nodes, [1, 3, 4, 4], ["y"], {"w": w, "s": per_channel}))
    assert [n.op_type for n in after.nodes] == ["Conv", "Sub"]
