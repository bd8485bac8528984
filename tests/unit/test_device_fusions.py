"""A GPU plan's fusions (passes.for_device): each keeps the graph's outputs (NumPy reference before and after, and
the fused graph's kernels on the OpenCL device here described as a 132-unit GPU, fp32 and fp16), does its
rewrite, leaves the model's own graph alone, and stays away from what it cannot fuse."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from pymace import Engine, passes
from pymace.frontends import onnx as onnx_frontend
from pymace.reference import executor
from tests.helpers import opencl_devices, rel_err

GPU = type("Gpu", (), {"is_gpu": True})()
DEVICES = opencl_devices()


def model(nodes, x_shape, outputs, inits, opset=17):
    """The ONNX graph of `nodes` converted (convert-time passes run): input x, constants `inits`."""
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    graph = onnx_frontend.load(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]))
    return passes.run(graph)


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
    monkeypatch.setattr(devices, "select", lambda spec: gpu)
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
