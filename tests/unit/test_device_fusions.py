"""A GPU plan's fusions (passes.for_device): each keeps the graph's outputs (NumPy reference before and after, and
the fused graph's kernels on the OpenCL device here described as a 132-unit GPU, fp32 and fp16), does its
rewrite, leaves the model's own graph alone, and stays away from what it cannot fuse."""
from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from pymace import Engine, passes
from pymace.frontends import onnx as onnx_frontend
from pymace.reference import executor
from tests.helpers import make_model, opencl_devices, rel_err

GPU = type("Gpu", (), {"is_gpu": True})()
DEVICES = opencl_devices()


def model(nodes, x_shape, outputs, inits, opset=17):
    """The ONNX graph of `nodes` converted (convert-time passes run): input x, constants `inits`."""
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    graph = onnx_frontend.load(make_model(g, opset))
    return passes.run(graph)


@pytest.fixture(autouse=True)
def _every_fusion_on(monkeypatch):
    """Each fusion is checked, also those off by default (passes.OFF_BY_DEFAULT)."""
    for name in passes.OFF_BY_DEFAULT:
        monkeypatch.setenv(f"PYMACE_{name.upper()}_FUSION", "1")


def test_fusions_off_by_default_need_asking_for(monkeypatch):
    graph = _dense_layer(np.random.default_rng(6))
    monkeypatch.delenv("PYMACE_PROLOGUE_FUSION")
    assert "BatchNormalization" in op_types(passes.for_device(graph, GPU))
    monkeypatch.setenv("PYMACE_PROLOGUE_FUSION", "1")
    assert "BatchNormalization" not in op_types(passes.for_device(graph, GPU))


def test_the_scale_prologue_is_on_by_default_and_the_others_are_not(monkeypatch):
    """An SE block's x · s goes into the project conv's prologue in a default GPU plan; the BatchNorm prologue
    does not, and asking for it leaves the scale prologue on its own switch."""
    monkeypatch.delenv("PYMACE_PROLOGUE_FUSION")
    fused = passes.for_device(_se_block(np.random.default_rng(5)), GPU)
    assert "Mul" not in op_types(fused) and fused.nodes[-1].attrs["fused_inputs"] == ["prologue_scale"]
    monkeypatch.setenv("PYMACE_NO_SCALE_PROLOGUE_FUSION", "1")
    monkeypatch.setenv("PYMACE_PROLOGUE_FUSION", "1")
    assert "Mul" in op_types(passes.for_device(_se_block(np.random.default_rng(5)), GPU))
    assert "BatchNormalization" not in op_types(passes.for_device(_dense_layer(np.random.default_rng(6)), GPU))


def op_types(graph) -> list[str]:
    return [n.op_type for n in graph.nodes]


def fused_same_outputs(graph, seed=0):
    """for_device(graph, GPU): the same outputs as the model's graph (NumPy reference), the model's graph unchanged."""
    before_nodes = op_types(graph)
    fused = passes.for_device(graph, GPU)
    x = np.random.default_rng(seed).standard_normal(graph.tensors["x"].shape).astype(np.float32)
    before, after = executor.run(graph, {"x": x}), executor.run(fused, {"x": x})
    assert list(after) == list(before)
    for k in before:
        assert rel_err(after[k], before[k]) < 1e-5, k
    assert op_types(graph) == before_nodes
    return fused


def runs_as_gpu_plan(graph, monkeypatch, tmp_path, seed=1):
    """The fused plan's kernels on this machine's OpenCL device described as a GPU: outputs as the reference's,
    fp32 and fp16. Returns the fp32 engine's plan steps."""
    if not DEVICES:
        pytest.skip("needs an OpenCL device")
    from pymace.runtime import device as devices

    gpu = dataclasses.replace(DEVICES[0], is_gpu=True, compute_units=132)
    monkeypatch.setattr(devices, "select", lambda spec, storage_dir=None: gpu)
    x = np.random.default_rng(seed).standard_normal(graph.tensors["x"].shape).astype(np.float32)
    want = executor.run(graph, {"x": x})
    steps = None
    for data_type, tol in (("fp32", 1e-4), ("fp16", 1e-2)):
        engine = Engine(graph, device=gpu.selector, data_type=data_type, storage_dir=str(tmp_path))
        got = engine.run({"x": x})
        for k in want:
            assert rel_err(got[k], want[k]) < tol, (data_type, k, rel_err(got[k], want[k]))
        steps = steps or engine.plan.steps
    return steps


# ---- fuse_silu: x · Sigmoid(x) → the producer's activation "Silu" ----

def _silu(rng, extra_reader=False, sigmoid_read_twice=False, swapped=False):
    inits = {"w": rng.standard_normal((6, 4, 3, 3)).astype(np.float32), "b": rng.standard_normal(6).astype(np.float32)}
    mul_inputs = ["s", "c"] if swapped else ["c", "s"]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["c"], ["s"]), helper.make_node("Mul", mul_inputs, ["y"])]
    outputs = ["y"]
    if extra_reader:
        nodes.append(helper.make_node("Relu", ["c"], ["z"]))
        outputs.append("z")
    if sigmoid_read_twice:
        nodes.append(helper.make_node("Relu", ["s"], ["z"]))
        outputs.append("z")
    return model(nodes, [1, 4, 7, 8], outputs, inits)


@pytest.mark.parametrize("swapped", [False, True])
def test_silu_fuses_into_the_conv(swapped, monkeypatch, tmp_path):
    graph = _silu(np.random.default_rng(0), swapped=swapped)
    assert op_types(graph) == ["Conv", "Sigmoid", "Mul"]
    fused = fused_same_outputs(graph)
    assert op_types(fused) == ["Conv"] and fused.nodes[0].attrs["activation"] == "Silu"
    steps = runs_as_gpu_plan(graph, monkeypatch, tmp_path)
    assert [s.node.op_type for s in steps] == ["Conv"]


@pytest.mark.parametrize("change", ["extra_reader", "sigmoid_read_twice"])
def test_no_silu_fusion_when_a_tensor_has_other_readers(change):
    graph = _silu(np.random.default_rng(1), **{change: True})
    assert "Sigmoid" in op_types(fused_same_outputs(graph))


def test_silu_fusion_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("PYMACE_NO_SILU_FUSION", "1")
    assert "Sigmoid" in op_types(passes.for_device(_silu(np.random.default_rng(2)), GPU))


def test_a_cpu_plan_fuses_silu_and_nothing_else(tmp_path):
    """SiLU repeats no work when fused, so CPU plans take it too; the GPU-only fusions stay off there."""
    if not DEVICES or DEVICES[0].is_gpu:
        pytest.skip("needs a CPU OpenCL device")
    graph = _silu(np.random.default_rng(3))
    assert op_types(passes.for_device(graph, DEVICES[0])) == ["Conv"]
    assert passes.CPU_FUSIONS == {"silu"}
    x = np.random.default_rng(4).standard_normal(graph.tensors["x"].shape).astype(np.float32)
    engine = Engine(graph, device=DEVICES[0].selector, data_type="fp32", storage_dir=str(tmp_path))
    assert [s.node.op_type for s in engine.plan.steps] == ["Conv"]
    want = executor.run(graph, {"x": x})
    assert rel_err(engine.run({"x": x})["y"], want["y"]) < 1e-5


# ---- fuse_se + fuse_prologue: a squeeze-excitation block → SqueezeExcite, its Mul → the next conv's prologue ----

def _se_block(rng, gate="Sigmoid", fc1_act="Silu", batch=1, extra_reader=None, pool="GlobalAveragePool"):
    """EfficientNet's block: expand 1x1 + SiLU, GAP, FC1 + act, FC2 + gate, x · s, project 1x1 (+ x)."""
    c, e, r = 8, 24, 6
    w = lambda *s: rng.standard_normal(s).astype(np.float32) * 0.4  # noqa: E731
    inits = {"we": w(e, c, 1, 1), "w1": w(r, e, 1, 1), "b1": w(r), "w2": w(e, r, 1, 1), "b2": w(e),
             "wp": w(c, e, 1, 1), "bp": w(c)}
    nodes = [helper.make_node("Conv", ["x", "we"], ["ex"]), helper.make_node("Sigmoid", ["ex"], ["exs"]),
             helper.make_node("Mul", ["ex", "exs"], ["h"])]
    nodes.append(helper.make_node("GlobalAveragePool", ["h"], ["g"]) if pool == "GlobalAveragePool"
                 else helper.make_node("ReduceMean", ["h"], ["g"], axes=[2, 3], keepdims=1))
    nodes.append(helper.make_node("Conv", ["g", "w1", "b1"], ["f1"]))
    if fc1_act == "Silu":
        nodes += [helper.make_node("Sigmoid", ["f1"], ["f1s"]), helper.make_node("Mul", ["f1", "f1s"], ["a1"])]
    else:
        nodes.append(helper.make_node(fc1_act, ["f1"], ["a1"]))
    nodes.append(helper.make_node("Conv", ["a1", "w2", "b2"], ["f2"]))
    nodes.append(helper.make_node("Sigmoid", ["f2"], ["s"]) if gate == "Sigmoid"
                 else helper.make_node("HardSigmoid", ["f2"], ["s"], alpha=1 / 6, beta=0.5))
    nodes += [helper.make_node("Mul", ["h", "s"], ["m"]), helper.make_node("Conv", ["m", "wp", "bp"], ["p"]),
              helper.make_node("Add", ["p", "x"], ["y"])]
    outputs = ["y"]
    if extra_reader:
        nodes.append(helper.make_node("Relu", [extra_reader], ["z"]))
        outputs.append("z")
    return model(nodes, [batch, c, 9, 10], outputs, inits)


@pytest.mark.parametrize("gate,fc1_act,batch,pool", [("Sigmoid", "Silu", 1, "GlobalAveragePool"),
                                                     ("HardSigmoid", "Relu", 2, "ReduceMean")],
                         ids=["effnet", "mbv3_batch2_reducemean"])
def test_squeeze_excitation_block_becomes_one_node_and_a_prologue(gate, fc1_act, batch, pool, monkeypatch,
                                                                   tmp_path):
    graph = _se_block(np.random.default_rng(3), gate, fc1_act, batch, pool=pool)
    fused = fused_same_outputs(graph)
    assert op_types(fused) == ["Conv", "SqueezeExcite", "Conv"]
    se, project = fused.nodes[1], fused.nodes[2]
    assert se.attrs["gate"] == gate and se.attrs.get("activation") == ("Silu" if fc1_act == "Silu" else "Relu")
    assert project.attrs["fused_inputs"] == ["prologue_scale"] and project.inputs[-1] == se.outputs[0]
    assert project.attrs.get("residual")
    steps = runs_as_gpu_plan(graph, monkeypatch, tmp_path)
    assert [s.node.op_type for s in steps].count("SqueezeExcite") <= 2


@pytest.mark.parametrize("reader", ["m", "g", "f1"], ids=["scaled_tensor", "pooled", "fc1"])
def test_no_squeeze_excitation_fusion_where_an_intermediate_has_another_reader(reader):
    fused = fused_same_outputs(_se_block(np.random.default_rng(4), extra_reader=reader))
    assert ("SqueezeExcite" in op_types(fused)) == (reader == "m")
    assert "Mul" in op_types(fused) if reader == "m" else True  # the Mul stays when its output has two readers


def test_no_squeeze_excitation_fusion_where_the_fc_weights_are_wide(monkeypatch):
    from pymace.passes import fuse_se

    graph = _se_block(np.random.default_rng(6))  # FC1 of 6 x 24 weights
    monkeypatch.setattr(fuse_se, "MAX_WEIGHTS", 6 * 24)
    assert "SqueezeExcite" in op_types(passes.for_device(graph, GPU))
    monkeypatch.setattr(fuse_se, "MAX_WEIGHTS", 6 * 24 - 1)
    assert "SqueezeExcite" not in op_types(passes.for_device(graph, GPU))


def test_squeeze_excitation_fusions_can_be_turned_off(monkeypatch):
    graph = _se_block(np.random.default_rng(5))
    monkeypatch.setenv("PYMACE_NO_SE_FUSION", "1")
    assert "SqueezeExcite" not in op_types(passes.for_device(graph, GPU))
    monkeypatch.setenv("PYMACE_NO_SCALE_PROLOGUE_FUSION", "1")
    monkeypatch.delenv("PYMACE_NO_SE_FUSION")
    fused = passes.for_device(graph, GPU)
    assert "SqueezeExcite" in op_types(fused) and "Mul" in op_types(fused)


def _dense_layer(rng, act="Relu", k=1, bn_reader=False):
    """DenseNet's pre-activation: BN → ReLU → conv (a 3x3 conv with padding when k = 3)."""
    c = 6
    inits = {"w0": rng.standard_normal((c, 3, 3, 3)).astype(np.float32), "g": rng.uniform(0.5, 1.5, c),
             "b": rng.standard_normal(c), "mu": rng.standard_normal(c), "var": rng.uniform(0.5, 1.5, c),
             "w": rng.standard_normal((5, c, k, k)).astype(np.float32)}
    inits = {n: np.asarray(v, np.float32) for n, v in inits.items()}
    nodes = [helper.make_node("Conv", ["x", "w0"], ["c0"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c0"], ["t"]),  # a conv with an activation: the BN does not fold into it
             helper.make_node("BatchNormalization", ["t", "g", "b", "mu", "var"], ["n"])]
    nodes += [helper.make_node("Relu", ["n"], ["r"])] if act == "Relu" else [helper.make_node("Identity", ["n"], ["r"])]
    nodes.append(helper.make_node("Conv", ["r", "w"], ["y"], pads=[k // 2] * 4))
    outputs = ["y", "r"] if bn_reader else ["y"]
    return model(nodes, [1, 3, 8, 7], outputs, inits)


@pytest.mark.parametrize("act,k", [("Relu", 1), ("Relu", 3), (None, 3)], ids=["relu_1x1", "relu_3x3_pad", "bn_3x3"])
def test_batch_norm_before_a_conv_becomes_its_prologue(act, k, monkeypatch, tmp_path):
    graph = _dense_layer(np.random.default_rng(6), act, k)
    assert "BatchNormalization" in op_types(graph)
    fused = fused_same_outputs(graph)
    assert "BatchNormalization" not in op_types(fused)
    conv = fused.nodes[-1]
    assert conv.attrs["fused_inputs"] == ["prologue_scale", "prologue_shift"]
    assert conv.attrs.get("prologue_activation") == act
    runs_as_gpu_plan(graph, monkeypatch, tmp_path)


def test_no_prologue_when_the_normalised_tensor_is_read_elsewhere():
    assert "BatchNormalization" in op_types(fused_same_outputs(_dense_layer(np.random.default_rng(7), bn_reader=True)))


def test_an_add_of_a_conv_output_to_itself_is_no_residual():
    """Add(c, c) (convert-time fuse_residual): the conv would read its own output."""
    w = np.random.default_rng(8).standard_normal((4, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Add", ["c", "c"], ["y"])]
    graph = model(nodes, [1, 3, 6, 6], ["y"], {"w": w})
    assert op_types(graph) == ["Conv", "Add"]
    fused_same_outputs(graph)


# ---- fuse_concat + fuse_shuffle: channel Concats, ShuffleNet's shuffle and splits without launches ----

def _w(rng, *shape):
    return (rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32)


def _dense_block(rng, layers=3, growth=4, c0=6):
    """DenseNet: each layer reads the Concat of all before it through BN → ReLU → 1x1 → ReLU → 3x3."""
    inits, nodes, feats = {"w0": _w(rng, c0, 3, 3, 3)}, [], ["f0"]
    nodes.append(helper.make_node("Conv", ["x", "w0"], ["f0"], pads=[1, 1, 1, 1]))
    for i in range(layers):
        c = c0 + i * growth
        inits |= {f"g{i}": rng.uniform(0.5, 1.5, c).astype(np.float32), f"b{i}": _w(rng, c),
                  f"m{i}": _w(rng, c), f"v{i}": rng.uniform(0.5, 1.5, c).astype(np.float32),
                  f"wa{i}": _w(rng, 8, c, 1, 1), f"wb{i}": _w(rng, growth, 8, 3, 3)}
        nodes += [helper.make_node("Concat", list(feats), [f"cat{i}"], axis=1),
                  helper.make_node("BatchNormalization", [f"cat{i}", f"g{i}", f"b{i}", f"m{i}", f"v{i}"], [f"n{i}"]),
                  helper.make_node("Relu", [f"n{i}"], [f"r{i}"]),
                  helper.make_node("Conv", [f"r{i}", f"wa{i}"], [f"a{i}"]),
                  helper.make_node("Relu", [f"a{i}"], [f"ar{i}"]),
                  helper.make_node("Conv", [f"ar{i}", f"wb{i}"], [f"f{i + 1}"], pads=[1, 1, 1, 1])]
        feats.append(f"f{i + 1}")
    nodes.append(helper.make_node("Concat", feats, ["y"], axis=1))
    return model(nodes, [1, 3, 9, 8], ["y"], inits)


def test_dense_block_runs_without_concat_or_batch_norm_launches(monkeypatch, tmp_path):
    graph = _dense_block(np.random.default_rng(10))
    assert op_types(graph).count("Concat") == 4 and op_types(graph).count("BatchNormalization") == 3
    fused = fused_same_outputs(graph)
    assert set(op_types(fused)) == {"Conv"} and len(fused.nodes) == 7
    steps = runs_as_gpu_plan(graph, monkeypatch, tmp_path)
    assert {s.kernel_name for s in steps} <= {"conv_gemm", "conv_splitk_reduce"}


def _inception(rng):
    """GoogLeNet: four branches (1x1; 1x1 → 3x3; 1x1 → 3x3; max pool → 1x1) joined by one Concat."""
    inits = {"w1": _w(rng, 5, 6, 1, 1), "w2": _w(rng, 4, 6, 1, 1), "w2b": _w(rng, 7, 4, 3, 3),
             "w3": _w(rng, 3, 6, 1, 1), "w3b": _w(rng, 2, 3, 3, 3), "w4": _w(rng, 3, 6, 1, 1)}
    nodes = [helper.make_node("Conv", ["x", "w1"], ["b1"]), helper.make_node("Conv", ["x", "w2"], ["t2"]),
             helper.make_node("Conv", ["t2", "w2b"], ["b2"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["x", "w3"], ["t3"]),
             helper.make_node("Conv", ["t3", "w3b"], ["b3"], pads=[1, 1, 1, 1]),
             helper.make_node("MaxPool", ["x"], ["t4"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
             helper.make_node("Conv", ["t4", "w4"], ["b4"]), helper.make_node("Concat", ["b1", "b2", "b3", "b4"], ["y"],
                                                                           axis=1)]
    return model(nodes, [2, 6, 7, 9], ["y"], inits)


def in_place_steps(fused, steps):
    """The in-place Concat's launches (none) and its convs' offsets, checked; the offsets returned."""
    concat = next(n for n in fused.nodes if n.op_type == "Concat")
    assert concat.attrs.get("in_place") and not [s for s in steps if s.node.op_type == "Concat"]
    producers = fused.producers()
    return [(producers[i].attrs["out_offset"], producers[i].attrs["out_channels"]) for i in concat.inputs]


def test_inception_concat_is_done_in_place(monkeypatch, tmp_path):
    graph = _inception(np.random.default_rng(11))
    fused = fused_same_outputs(graph)
    assert not [n for n in fused.nodes if "prefix" in (n.attrs.get("fused_inputs") or ())]
    steps = runs_as_gpu_plan(graph, monkeypatch, tmp_path)
    assert in_place_steps(fused, steps) == [(0, 17), (5, 17), (12, 17), (14, 17)]


def test_a_concat_not_all_of_convs_stays_a_launch_beyond_two_inputs(monkeypatch, tmp_path):
    graph = _inception(np.random.default_rng(14))
    graph.nodes = [n for n in graph.nodes if n.outputs != ["b4"]]  # the fourth branch: the max pool itself
    concat = graph.nodes[-1]
    concat.inputs[-1] = "t4"
    graph.tensors.pop("b4")
    graph.tensors[concat.outputs[0]].shape = None  # t4 has other channels than b4 had: the Concat's shape is derived
    fused = fused_same_outputs(graph)
    assert "Concat" in op_types(fused) and not fused.nodes[-1].attrs.get("in_place")
    assert not [n for n in fused.nodes if n.attrs.get("out_offset") is not None or n.attrs.get("fused_inputs")]
    runs_as_gpu_plan(graph, monkeypatch, tmp_path)


def _two_branches(rng, extra_reader=False):
    """SqueezeNet's fire module: a 1x1 and a 3x3 conv of one input, joined by a Concat."""
    inits = {"w1": _w(rng, 5, 6, 1, 1), "w2": _w(rng, 4, 6, 3, 3)}
    nodes = [helper.make_node("Conv", ["x", "w1"], ["b1"]),
             helper.make_node("Conv", ["x", "w2"], ["b2"], pads=[1, 1, 1, 1]),
             helper.make_node("Concat", ["b1", "b2"], ["y"], axis=1)]
    return model(nodes, [2, 6, 7, 9], ["y", "b2"] if extra_reader else ["y"], inits)


def test_two_branch_concat_of_convs_is_done_in_place(monkeypatch, tmp_path):
    graph = _two_branches(np.random.default_rng(13))
    fused = fused_same_outputs(graph)
    steps = runs_as_gpu_plan(graph, monkeypatch, tmp_path)
    assert in_place_steps(fused, steps) == [(0, 9), (5, 9)]


def test_two_input_concat_with_one_conv_becomes_a_prefix_copy(monkeypatch, tmp_path):
    graph = _two_branches(np.random.default_rng(15))
    graph.nodes[0].op_type, graph.nodes[0].inputs = "Relu", ["x"]  # the first input: no conv; 6 channels
    graph.tensors["b1"].shape, graph.tensors["y"].shape = (2, 6, 7, 9), (2, 10, 7, 9)
    fused = fused_same_outputs(graph)
    assert op_types(fused) == ["Relu", "Conv"] and fused.nodes[-1].attrs["fused_inputs"] == ["prefix"]
    runs_as_gpu_plan(graph, monkeypatch, tmp_path)


def test_a_stray_out_offset_is_refused():
    from pymace.errors import ConvertError
    from pymace.runtime.plan import _alias_in_place_concats

    fused = passes.for_device(_two_branches(np.random.default_rng(16)), GPU)
    fused.nodes[-1].attrs.pop("in_place")
    with pytest.raises(ConvertError, match="no in-place Concat"):
        _alias_in_place_concats(types.SimpleNamespace(graph=fused, alias={}))
    fused.nodes[-1].attrs["in_place"] = True
    fused.nodes[1].attrs["out_offset"] = 4
    with pytest.raises(ConvertError, match="written at its offset"):
        _alias_in_place_concats(types.SimpleNamespace(graph=fused, alias={}))


def test_concat_stays_when_its_last_input_is_read_elsewhere():
    fused = fused_same_outputs(_two_branches(np.random.default_rng(12), extra_reader=True))
    assert "Concat" in op_types(fused)


def _shuffle_units(rng, c=16, units=2):
    """ShuffleNetV2's unit, twice: split the channels, branch 2 (1x1 + ReLU, depthwise 3x3, 1x1 + ReLU) on the
    second half, Concat with the first half, channel shuffle (Reshape → Transpose → Reshape)."""
    h = c // 2
    inits = {"s0": np.int64([0]), "s1": np.int64([h]), "s2": np.int64([c]), "ax": np.int64([1]),
             "split": np.int64([1, 2, h, 8, 8]), "back": np.int64([1, c, 8, 8])}
    nodes, x = [], "x"
    for u in range(units):
        inits |= {f"wa{u}": _w(rng, h, h, 1, 1), f"wd{u}": _w(rng, h, 1, 3, 3), f"wb{u}": _w(rng, h, h, 1, 1)}
        nodes += [helper.make_node("Slice", [x, "s0", "s1", "ax"], [f"x1_{u}"]),
                  helper.make_node("Slice", [x, "s1", "s2", "ax"], [f"x2_{u}"]),
                  helper.make_node("Conv", [f"x2_{u}", f"wa{u}"], [f"a{u}"]),
                  helper.make_node("Relu", [f"a{u}"], [f"ar{u}"]),
                  helper.make_node("Conv", [f"ar{u}", f"wd{u}"], [f"d{u}"], group=h, pads=[1, 1, 1, 1]),
                  helper.make_node("Conv", [f"d{u}", f"wb{u}"], [f"b{u}"]),
                  helper.make_node("Relu", [f"b{u}"], [f"br{u}"]),
                  helper.make_node("Concat", [f"x1_{u}", f"br{u}"], [f"cat{u}"], axis=1),
                  helper.make_node("Reshape", [f"cat{u}", "split"], [f"r{u}"]),
                  helper.make_node("Transpose", [f"r{u}"], [f"t{u}"], perm=[0, 2, 1, 3, 4]),
                  helper.make_node("Reshape", [f"t{u}", "back"], [f"u{u}" if u < units - 1 else "y"])]
        x = f"u{u}"
    return model(nodes, [1, c, 8, 8], ["y"], inits)


def test_shuffle_units_run_as_their_convs_alone(monkeypatch, tmp_path):
    graph = _shuffle_units(np.random.default_rng(13))
    assert {"Slice", "Concat", "Transpose"} <= set(op_types(graph))
    fused = fused_same_outputs(graph)
    assert op_types(fused) == ["Conv", "SeparableConv"] * 2
    sep = fused.nodes[1]
    assert sep.attrs["shuffle_groups"] == 2 and sep.attrs["fused_inputs"] == ["prefix"]
    assert fused.nodes[2].attrs["input_channels"] == [8, 16] and fused.nodes[3].attrs["prefix_channels"] == [0, 8]
    steps = runs_as_gpu_plan(graph, monkeypatch, tmp_path)
    assert len(steps) == 4


def test_a_shuffled_concat_of_two_convs_stays_a_prefix_copy_with_the_shuffle_fused(monkeypatch, tmp_path):
    """ShuffleNetV2's downsampling unit: two conv branches of one input, Concat, channel shuffle."""
    rng = np.random.default_rng(17)
    inits = {"w1": _w(rng, 4, 6, 1, 1), "w2": _w(rng, 4, 6, 3, 3), "split": np.int64([2, 2, 4, 7, 9]),
             "back": np.int64([2, 8, 7, 9])}
    nodes = [helper.make_node("Conv", ["x", "w1"], ["b1"]),
             helper.make_node("Conv", ["x", "w2"], ["b2"], pads=[1, 1, 1, 1]),
             helper.make_node("Concat", ["b1", "b2"], ["cat"], axis=1),
             helper.make_node("Reshape", ["cat", "split"], ["r"]),
             helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3, 4]),
             helper.make_node("Reshape", ["t", "back"], ["y"])]
    graph = model(nodes, [2, 6, 7, 9], ["y"], inits)
    fused = fused_same_outputs(graph)
    assert op_types(fused) == ["Conv", "Conv"]
    assert fused.nodes[1].attrs["shuffle_groups"] == 2 and fused.nodes[1].attrs["fused_inputs"] == ["prefix"]
    assert len(runs_as_gpu_plan(graph, monkeypatch, tmp_path)) == 2


def test_concat_and_shuffle_fusions_can_be_turned_off(monkeypatch):
    graph = _shuffle_units(np.random.default_rng(14))
    monkeypatch.setenv("PYMACE_NO_SHUFFLE_FUSION", "1")
    assert "Transpose" in op_types(passes.for_device(graph, GPU))
    monkeypatch.setenv("PYMACE_NO_CONCAT_FUSION", "1")
    assert "Concat" in op_types(passes.for_device(graph, GPU))


# ---- split K summed in-kernel: on NVIDIA the fences are backed by inline PTX ----

@pytest.mark.parametrize("vendor, ptx", [("NVIDIA Corporation", True), ("The pocl project", False)])
def test_split_last_fences_with_ptx_only_on_nvidia(vendor, ptx):
    from pymace.ops.base import DeviceTraits
    from pymace.runtime.plan import make_plan

    rng = np.random.default_rng(15)
    graph = model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], [1, 64, 7, 7], ["y"],
                  {"w": rng.standard_normal((32, 64, 3, 3)).astype(np.float32)})
    graph.nodes[0].attrs |= {"kernel_variant": "conv_gemm", "tiling": [32, 32, 16, 4, 1]}
    traits = DeviceTraits(True, 132, 1024, (1024, 1024, 64), 49152, False, "gpu", vendor)
    (launch,) = make_plan(graph, traits, "fp32").launches
    assert "-DSPLIT_LAST=1" in launch.options and ("-DPTX_FENCE" in launch.options) == ptx


@pytest.mark.parametrize("build", [_silu, _se_block, _dense_block, _inception, _shuffle_units])
def test_cpu_plans_take_only_the_cpu_fusions(build, monkeypatch):
    """A CPU's plan runs the model's graph as converted but for CPU_FUSIONS (SiLU), whatever the environment asks
    of GPU plans."""
    from pymace.ops.base import DeviceTraits
    from pymace.passes import fuse_silu
    from pymace.passes.rewrite import working_copy

    graph = build(np.random.default_rng(16))
    cpu = DeviceTraits(False, 2, 4096, (4096, 4096, 4096), 1 << 20, False, "cpu", "The pocl project")
    monkeypatch.setenv("PYMACE_SPLIT_LAST", "1")
    monkeypatch.setenv("PYMACE_PROLOGUE_FUSION", "1")
    before = op_types(graph)
    assert op_types(passes.for_device(graph, cpu)) == op_types(fuse_silu.run(working_copy(graph)))
    assert op_types(graph) == before  # the model's own graph is untouched
    monkeypatch.setenv("PYMACE_NO_SILU_FUSION", "1")
    assert passes.for_device(graph, cpu) is graph
