"""Variant tuning: every candidate a Conv offers is timed only after it reproduces the default's output, the best
lands in the tuning file, the engine launches it (and nothing a file names that the op does not offer)."""
import dataclasses

import numpy as np
import pytest

from pymace.engine import Engine
from pymace.ir.graph import Graph, Node, Tensor
from pymace.ops import conv
from pymace.ops.base import Const
from pymace.reference import executor as reference
from pymace.runtime import device as devices
from pymace.runtime import tuner
from pymace.runtime.plan import make_plan
from pymace.runtime.tuner import measure
from pymace.runtime.tuning_file import TuningFile
from pymace.runtime.tuning_records import Candidate, VariantRecord
from tests.helpers import rel_err
from tests.tuner.common import needs_device

pytestmark = needs_device


def conv_graph(rng, c=40, m=72, hw=9, residual=False):
    """Conv 3×3 (+ bias, ReLU, optionally a fused residual): K = 360 and 72 channels, so a GPU offers conv_gemm
    with two tile shapes along channels and several K splits."""
    w = (rng.standard_normal((m, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    tensors = {"x": Tensor("x", (1, c, hw, hw)), "w": Tensor("w", w.shape, "float32", w),
               "b": Tensor("b", b.shape, "float32", b), "y": Tensor("y", (1, m, hw, hw))}
    inputs = ["x", "w", "b"]
    attrs = {"pads": [1, 1, 1, 1], "activation": "Relu"}
    feeds = {"x": rng.standard_normal((1, c, hw, hw)).astype(np.float32)}
    if residual:
        tensors["r"] = Tensor("r", (1, m, hw, hw))
        inputs.append("r")
        attrs["residual"] = True
        feeds["r"] = rng.standard_normal((1, m, hw, hw)).astype(np.float32)
    graph = Graph("conv", [Node("conv", "Conv", inputs, ["y"], attrs)], tensors, list(feeds), ["y"])
    graph.verify()
    return graph, feeds


@pytest.fixture(params=["as is", "as a GPU"])
def target(request, device, monkeypatch):
    """The device, and the same device described as a 132-unit GPU so that the GPU's variants (conv_gemm tiles
    and K splits) are tuned and run on whatever device is present."""
    if request.param == "as a GPU":
        device = dataclasses.replace(device, is_gpu=True, compute_units=132)
        monkeypatch.setattr(devices, "select", lambda spec, storage_dir=None: device)
    return device


@pytest.mark.parametrize("data_type", ["fp32", "fp16"])
@pytest.mark.parametrize("residual", [False, True], ids=["plain", "residual"])
def test_variants_tuned_and_used(target, tmp_path, data_type, residual):
    graph, feeds = conv_graph(np.random.default_rng(3), residual=residual)
    result = tuner.tune(graph, device=target, data_type=data_type, budget=300, storage_dir=str(tmp_path))
    [row] = result["variants"]
    assert row["complete"] and row["tried"] >= 3 and row["failed"] == 0 and row["best_us"] > 0
    if target.is_gpu:
        assert row["tried"] >= 8 and row["default"].startswith("conv_gemm")
    record = TuningFile.open(tmp_path, target.identity).record(row["key"])
    assert isinstance(record, VariantRecord) and len(record.candidates) == row["tried"]
    assert record.default_choice is not None and record.launch_us > 0
    assert all(c.launches >= 1 for c in record.candidates if c.time_us is not None)
    tuned = Engine(graph, device=target.selector, data_type=data_type, storage_dir=str(tmp_path))
    plain = Engine(graph, device=target.selector, data_type=data_type, storage_dir=str(tmp_path), use_tuning=False)
    conv_steps = [s for s in tuned.plan.steps if s.node.name == "conv"]
    assert conv_steps and all(s.tuned for s in conv_steps)
    assert conv_steps[0].kernel_name == record.choice["variant"]
    want, got, base = reference.run(graph, feeds)["y"], tuned.run(feeds)["y"], plain.run(feeds)["y"]
    tol = 1e-4 if data_type == "fp32" else 1e-2
    assert rel_err(got, want) < tol and rel_err(base, want) < tol


def test_interrupted_variant_tuning_resumes(target, tmp_path):
    graph, feeds = conv_graph(np.random.default_rng(7))
    seen = []

    def stop_after_one(done, total, what):
        seen.append((done, total, what))
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tuner.tune(graph, device=target, budget=300, storage_dir=str(tmp_path), progress=stop_after_one)
    assert seen[0][2].startswith("variants") and seen[0][1] >= 2
    [partial] = [r for r in TuningFile.open(tmp_path, target.identity).entries.values()
                 if isinstance(r, VariantRecord)]
    assert not partial.complete and len(partial.candidates) == 2  # the default and the one measured
    engine = Engine(graph, device=target.selector, storage_dir=str(tmp_path))
    assert rel_err(engine.run(feeds)["y"], reference.run(graph, feeds)["y"]) < 1e-4

    totals = []
    result = tuner.tune(graph, device=target, budget=300, storage_dir=str(tmp_path),
                        progress=lambda done, total, what: what.startswith("variants") and totals.append(total))
    assert totals[0] == seen[0][1] - 1  # what was measured before the interruption is not measured again
    [row] = result["variants"]
    assert row["complete"] and row["tried"] == seen[0][1] + 1


def test_an_extra_launch_must_pay_for_itself():
    """Variants compare by device time plus the host's cost per launch: a split that saves less device time than
    its reduction launch costs the host is not chosen."""
    default = Candidate(choice={"variant": "a"}, time_us=20.0, launches=1)
    split = Candidate(choice={"variant": "b"}, time_us=15.0, launches=2)
    assert measure.best([default, split], launch_us=0.0) is split
    assert measure.best([default, split], launch_us=8.0) is default
    assert split.cost(8.0) == 31.0


def the_choice(device, graph):
    """The Choice (key, default, candidates) of the graph's only Conv, as the engine's plan makes it."""
    [choice] = make_plan(graph, device.traits, "fp32").choices
    return choice


def test_a_stored_variant_is_launched(target, tmp_path):
    graph, feeds = conv_graph(np.random.default_rng(4))
    choice = the_choice(target, graph)
    other = next(c for c in choice.candidates if c["variant"] != choice.default["variant"])
    tuning = TuningFile.open(tmp_path, target.identity)
    tuning.put(choice.key, VariantRecord(other, complete=True))
    assert tuning.save()
    engine = Engine(graph, device=target.selector, storage_dir=str(tmp_path))
    assert engine.plan.steps[0].kernel_name == other["variant"] and engine.plan.steps[0].tuned
    assert rel_err(engine.run(feeds)["y"], reference.run(graph, feeds)["y"]) < 1e-4


@pytest.mark.parametrize("bad", [{"variant": "conv_gemm", "tm": 48, "tn": 64, "tk": 32, "split": 1},
                                 {"variant": "no_such_kernel"}])
def test_a_variant_the_op_does_not_offer_is_ignored(device, tmp_path, bad):
    graph, feeds = conv_graph(np.random.default_rng(5))
    choice = the_choice(device, graph)
    tuning = TuningFile.open(tmp_path, device.identity)
    tuning.put(choice.key, VariantRecord(bad, complete=True))
    assert tuning.save()
    engine = Engine(graph, device=device.selector, storage_dir=str(tmp_path))
    assert engine.plan.steps[0].kernel_name == choice.default["variant"] and not engine.plan.steps[0].tuned
    assert rel_err(engine.run(feeds)["y"], reference.run(graph, feeds)["y"]) < 1e-4


def test_a_wrong_variant_is_recorded_as_failed(target, tmp_path, monkeypatch):
    """A candidate whose output differs from the default's is never timed, and never chosen: here an extra
    candidate that launches the default kernel with its weights negated."""
    graph, _ = conv_graph(np.random.default_rng(6))
    broken = {"variant": "broken", "px": 3}
    original = conv.launch

    def launch(ctx, **attrs):
        real_choose, state = ctx.choose, {}

        def choose(key, default, candidates):
            chosen = real_choose(key, default, [*candidates, broken])
            state["broken"] = chosen == broken
            return default if state["broken"] else chosen

        ctx.choose = choose
        original(ctx, **attrs)
        if state["broken"]:
            for spec in ctx.launches:
                spec.args = [Const(-a.data) if isinstance(a, Const) and a.data.ndim > 1 else a for a in spec.args]

    monkeypatch.setattr(conv, "launch", launch)
    result = tuner.tune(graph, device=target, budget=300, storage_dir=str(tmp_path))
    [row] = result["variants"]
    assert row["complete"] and row["failed"] == 1
    assert row["failures"][0]["choice"] == "broken px=3"
    assert "differs from the default variant" in row["failures"][0]["error"]
    assert row["best"] != "broken px=3"
