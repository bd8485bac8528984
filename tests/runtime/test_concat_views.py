"""runtime/concat_views.py: Concats whose inputs are made in place in the Concat's output, and Splits whose outputs
are read in place in the Split's input (sub-buffers). A dense
block's chain of Concats and an inception module's Concat launch nothing and give the reference's outputs, in fp32
and fp16, from several threads; a Concat that cannot be laid out in place (a batch of 2, an input that is a graph
output, an input off the device's alignment) still copies, and PYMACE_CONCAT_VIEWS=0 turns it off (=1 on, which
a GPU's plans need: off by default there)."""
import threading

import numpy as np
import pytest

from pymace import Engine
from pymace.ir.graph import Graph, Node, Tensor
from pymace.ir.shapes import infer_shapes
from pymace.reference import executor as reference
from tests.helpers import opencl_devices, rel_err

DEVICES = opencl_devices()
pytestmark = pytest.mark.skipif(not DEVICES, reason="needs an OpenCL device")


def _conv(rng, tensors, name, x, cin, cout, k=3):
    w = (rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    tensors[f"{name}_w"] = Tensor(f"{name}_w", w.shape, "float32", w)
    tensors[f"{name}_b"] = Tensor(f"{name}_b", b.shape, "float32", b)
    tensors[name] = Tensor(name)
    return Node(name, "Conv", [x, f"{name}_w", f"{name}_b"], [name], {"pads": [k // 2] * 4, "activation": "Relu"})


def dense_block(batch=1, channels=32, growth=32, layers=4, hw=4, extra_output=None) -> Graph:
    """x → conv → f0; each layer: BN(Concat so far) → conv → f_k; Concat(Concat(...), f_k) chained."""
    rng = np.random.default_rng(7)
    tensors = {"x": Tensor("x", (batch, 3, hw, hw))}
    nodes = [_conv(rng, tensors, "f0", "x", 3, channels)]
    cat, c = "f0", channels
    for k in range(1, layers + 1):
        scale, shift = rng.uniform(0.5, 1.5, c).astype(np.float32), rng.standard_normal(c).astype(np.float32)
        mean, var = rng.standard_normal(c).astype(np.float32), rng.uniform(0.5, 1.5, c).astype(np.float32)
        for p, v in (("s", scale), ("t", shift), ("m", mean), ("v", var)):
            tensors[f"bn{k}_{p}"] = Tensor(f"bn{k}_{p}", v.shape, "float32", v)
        tensors[f"bn{k}"] = Tensor(f"bn{k}")
        nodes.append(Node(f"bn{k}", "BatchNormalization", [cat] + [f"bn{k}_{p}" for p in "stmv"], [f"bn{k}"],
                          {"activation": "Relu"}))
        nodes.append(_conv(rng, tensors, f"f{k}", f"bn{k}", c, growth))
        tensors[f"cat{k}"] = Tensor(f"cat{k}")
        nodes.append(Node(f"cat{k}", "Concat", [cat, f"f{k}"], [f"cat{k}"], {"axis": 1}))
        cat, c = f"cat{k}", c + growth
    outputs = [cat] + ([extra_output] if extra_output else [])
    graph = Graph("dense", nodes, tensors, ["x"], outputs)
    infer_shapes(graph)
    graph.verify()
    return graph


def inception(batch=1, branch=(16, 32, 48), hw=8) -> Graph:
    rng = np.random.default_rng(8)
    tensors = {"x": Tensor("x", (batch, 8, hw, hw))}
    nodes = [_conv(rng, tensors, f"b{i}", "x", 8, m, k) for i, (m, k) in enumerate(zip(branch, (1, 3, 5)))]
    tensors["y"] = Tensor("y")
    nodes.append(Node("cat", "Concat", [f"b{i}" for i in range(len(branch))], ["y"], {"axis": 1}))
    graph = Graph("inception", nodes, tensors, ["x"], ["y"])
    infer_shapes(graph)
    graph.verify()
    return graph


def _check(engine, graph, data_type, threads=1):
    tol = 1e-4 if data_type == "fp32" else 2e-2
    errors = []

    def one(seed):
        x = np.random.default_rng(seed).standard_normal(graph.tensors["x"].shape).astype(np.float32)
        got, want = engine.run({"x": x}), reference.run(graph, {"x": x})
        errors.extend(rel_err(got[o], want[o]) for o in graph.outputs)

    workers = [threading.Thread(target=one, args=(seed,)) for seed in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(errors) == threads * len(graph.outputs) and max(errors) <= tol, errors


def _concat_launches(engine) -> int:
    return sum(s.kernel_name == "concat_copy" for s in engine.plan.steps)


@pytest.mark.parametrize("device", DEVICES, ids=[d.selector for d in DEVICES])
@pytest.mark.parametrize("data_type", ["fp32", "fp16"])
def test_a_dense_block_and_an_inception_module_concat_in_place(device, data_type, tmp_path, monkeypatch):
    monkeypatch.setenv("PYMACE_CONCAT_VIEWS", "1")
    for graph, views in ((dense_block(), 2 * 4), (inception(), 3)):  # dense: f_k and cat_{k-1} in each Concat
        engine = Engine(graph, device=device.selector, data_type=data_type, storage_dir=str(tmp_path))
        engine.max_concurrent_runs = 3
        _check(engine, graph, data_type, threads=4)
        laid_out = engine.prepared.plan.views
        assert _concat_launches(engine) == 0 and len(laid_out) == views, (graph.name, laid_out)
        assert {root for root, _, _ in laid_out.values()} == {graph.outputs[0]}  # nested: one buffer holds all


@pytest.mark.parametrize("device", DEVICES, ids=[d.selector for d in DEVICES])
def test_concats_that_cannot_be_in_place_still_copy(device, tmp_path, monkeypatch):
    monkeypatch.setenv("PYMACE_CONCAT_VIEWS", "1")
    cases = [(dense_block(batch=2), 4),  # a batch of 2: an input is not one run of the output
             (dense_block(extra_output="f2"), 1),  # f2 is a graph output: its Concat copies; the others nest
             (inception(branch=(3, 32, 48), hw=7), 1)]  # the second input starts 3·49 floats in: off alignment
    for graph, copied in cases:
        engine = Engine(graph, device=device.selector, storage_dir=str(tmp_path))
        _check(engine, graph, "fp32")
        copying = {s.node.name for s in engine.plan.steps if s.kernel_name == "concat_copy"}
        assert len(copying) == copied, (graph.name, copying)
    monkeypatch.setenv("PYMACE_CONCAT_VIEWS", "0")
    engine = Engine(inception(), device=device.selector, storage_dir=str(tmp_path))
    _check(engine, inception(), "fp32")
    assert _concat_launches(engine) == 3 and not engine.prepared.plan.views


def split_block(batch=1, channels=(16, 32, 16), hw=8, output_part=False) -> Graph:
    """x → conv → Split(channel) → a conv on each part → Concat: YOLOv8's C2f without its shortcut."""
    rng = np.random.default_rng(9)
    tensors = {"x": Tensor("x", (batch, 4, hw, hw))}
    nodes = [_conv(rng, tensors, "h", "x", 4, sum(channels), 1)]
    parts = [f"p{i}" for i in range(len(channels))]
    tensors |= {p: Tensor(p) for p in parts}
    nodes.append(Node("split", "Split", ["h"], parts, {"axis": 1, "split": list(channels)}))
    nodes += [_conv(rng, tensors, f"q{i}", p, c, 8) for i, (p, c) in enumerate(zip(parts, channels))]
    tensors["y"] = Tensor("y")
    nodes.append(Node("cat", "Concat", [f"q{i}" for i in range(len(channels))], ["y"], {"axis": 1}))
    graph = Graph("split", nodes, tensors, ["x"], ["y"] + (["p1"] if output_part else []))
    infer_shapes(graph)
    graph.verify()
    return graph


@pytest.mark.parametrize("device", DEVICES, ids=[d.selector for d in DEVICES])
@pytest.mark.parametrize("data_type", ["fp32", "fp16"])
def test_a_split_is_read_in_place(device, data_type, tmp_path, monkeypatch):
    monkeypatch.setenv("PYMACE_CONCAT_VIEWS", "1")
    graph = split_block()
    engine = Engine(graph, device=device.selector, data_type=data_type, storage_dir=str(tmp_path))
    engine.max_concurrent_runs = 3
    _check(engine, graph, data_type, threads=4)
    assert not [s for s in engine.plan.steps if s.node.op_type == "Split"]
    views = engine.prepared.plan.views
    assert {views[p][0] for p in ("p0", "p1", "p2")} == {"h"} and [views[p][1] for p in ("p0", "p1", "p2")] == \
        [0, 16 * 64, 48 * 64]


@pytest.mark.parametrize("device", DEVICES, ids=[d.selector for d in DEVICES])
def test_splits_that_cannot_be_in_place_still_copy(device, tmp_path, monkeypatch):
    monkeypatch.setenv("PYMACE_CONCAT_VIEWS", "1")
    for graph in (split_block(batch=2), split_block(output_part=True), split_block(channels=(3, 32, 16), hw=7)):
        engine = Engine(graph, device=device.selector, storage_dir=str(tmp_path))
        _check(engine, graph, "fp32")
        assert [s for s in engine.plan.steps if s.node.op_type == "Split"], graph.outputs
        assert not {"p0", "p1", "p2"} & set(engine.prepared.plan.views)
