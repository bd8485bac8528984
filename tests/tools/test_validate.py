"""validate: passes on correct kernels, picks the source framework's runtime, refuses (never passes) when the
source is gone unless numpy is asked for, says what input it used, and with a deliberately broken kernel fails and
names the node that broke."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from pymace.errors import PymaceError
from pymace.ops import unary
from pymace.tools import validate


def roundtrip(result: dict) -> dict:
    return json.loads(json.dumps(result))  # the result is JSON, as `pymace validate --json` prints it


def test_small_graph_passes_against_numpy(small_pmace, storage):
    with pytest.raises(PymaceError, match="records no source framework.*--reference numpy"):
        validate.validate(small_pmace, storage_dir=storage)
    r = roundtrip(validate.validate(small_pmace, reference="numpy", storage_dir=storage))
    assert r["reference"] == "numpy" and r["passed"] and r["diff"] is None
    assert "not the conversion" in r["reference_note"]
    (out,) = r["outputs"]
    assert out["name"] == "y" and out["shape"] == [1, 3, 8, 8]
    assert out["cosine"] > 0.9999 and out["max_abs_error"] < 1e-4
    assert r["threshold"] == {"metric": "cosine", "value": 0.999}


def test_broken_kernel_fails_and_names_the_node(small_pmace, storage, monkeypatch):
    real = unary.launch

    def broken(ctx, _op_type="Relu", **attrs):  # the relu node computes a sigmoid instead
        return real(ctx, _op_type="Sigmoid" if ctx.node.name == "relu" else _op_type, **attrs)

    monkeypatch.setattr(unary, "launch", broken)
    r = roundtrip(validate.validate(small_pmace, reference="numpy", storage_dir=storage))
    assert not r["passed"]
    first = r["diff"]["first_divergent"]
    assert first["node"] == "relu" and first["op_type"] == "Relu" and first["tensor"] == "r"
    rows = {row["node"]: row for row in r["diff"]["nodes"]}
    assert not rows["conv"]["diverges"] and rows["add"]["diverges"]
    assert "relu" in validate_text(r)


def validate_text(result: dict) -> str:
    from rich.console import Console

    console = Console(width=200, record=True, file=open(os.devnull, "w"))
    console.print(validate.render_text(result))
    return console.export_text()


def test_onnx_source_runs_in_onnxruntime(small_onnx, storage):
    src, model = small_onnx
    r = roundtrip(validate.validate(model, storage_dir=storage))
    assert r["reference"] == "onnxruntime" and r["reference_source"] == src and r["passed"]
    (out,) = r["outputs"]
    assert out["top1_agree"] and out["top5_overlap"] == 5 and out["sqnr_db"] > 60


def test_source_gone_is_an_error_unless_numpy_is_asked(small_onnx, storage, tmp_path):
    src, model = small_onnx
    moved = tmp_path / "moved.onnx"
    os.rename(src, moved)
    for reference in ("auto", "onnxruntime"):
        with pytest.raises(PymaceError, match="is not there: point at it with --source"):
            validate.validate(model, reference=reference, storage_dir=storage)
    r = validate.validate(model, source=str(moved), storage_dir=storage)
    assert r["reference"] == "onnxruntime" and r["reference_source"] == str(moved) and r["passed"]
    assert validate.validate(model, reference="numpy", storage_dir=storage)["reference"] == "numpy"


def test_threshold_override_and_seed(small_pmace, storage):
    r = validate.validate(small_pmace, "numpy", threshold=1.01, seed=3, storage_dir=storage)  # none reaches 1.01
    assert not r["passed"] and r["threshold"]["value"] == 1.01 and r["input"] == {
        "kind": "random", "seed": 3, "distribution": "uniform(-1, 1)", "samples": 1}
    assert r["diff"]["first_divergent"]["node"] == "conv"


def test_yaml_threshold_for_the_runtime_it_ran_on(small_pmace, storage, tmp_path):
    from pymace import Engine
    from pymace.ir import pmace_file

    graph = pmace_file.load(small_pmace)
    graph.metadata["validation_threshold"] = {"CPU": 1.01, "GPU": 1.02}  # as deploy records MACE's per-runtime keys
    path = tmp_path / "with_threshold.pmace"
    pmace_file.save(graph, str(path))
    r = validate.validate(path, "numpy", storage_dir=storage)
    assert not r["passed"] and r["threshold"]["value"] == (1.02 if Engine(graph, storage_dir=storage).device.is_gpu
                                                           else 1.01)
    assert validate.validate(path, "numpy", threshold=0.5, storage_dir=storage)["threshold"]["value"] == 0.5


def test_image_input_is_resized_to_the_model(small_pmace, storage, tmp_path):
    from PIL import Image

    from pymace.tools.images import DEMO_PHOTO

    path = tmp_path / "chelsea.png"
    Image.fromarray(np.load(DEMO_PHOTO)).save(path)
    r = validate.validate(small_pmace, "numpy", image=str(path), storage_dir=storage)
    assert r["input"]["kind"] == "image" and r["input"]["image"] == str(path) and r["passed"]
    assert r["input"]["preprocessing"].startswith("resize to 8x8 NCHW")


def test_text_says_what_input_it_used(small_onnx, storage):
    _, model = small_onnx
    r = validate.validate(model, samples=3, seed=5, input_range=(0.0, 2.0), storage_dir=storage)
    assert r["input"] == {"kind": "random", "seed": 5, "distribution": "uniform(0, 2)", "samples": 3}
    (out,) = r["outputs"]
    assert out["samples"] == 3 and 0 <= out["top1_agreement"] <= 1
    text = validate_text(r)
    assert "input: random uniform(0, 2), seed 5, 3 samples (not real data" in text


def test_input_files_are_fed_as_given(small_onnx, storage):
    _, model = small_onnx
    x = np.random.default_rng(11).uniform(-3, 3, (1, 3, 8, 8)).astype(np.float32)
    r = validate.validate(model, inputs={"x": x}, storage_dir=storage)
    assert r["passed"] and r["input"]["kind"] == "files" and r["input"]["files"] == {"x": "array [1, 3, 8, 8]"}
    with pytest.raises(PymaceError, match="missing"):
        validate.validate(model, inputs={"y": x}, storage_dir=storage)


def test_layers_compares_each_tensor_with_onnxruntime(small_onnx, storage):
    _, model = small_onnx
    r = roundtrip(validate.validate(model, layers=True, storage_dir=storage))
    layers = r["layers"]
    assert layers["reference"] == "onnxruntime" and layers["first_divergent"] is None
    compared = {row["tensor"] for row in layers["nodes"]}
    assert "scores" in compared and len(compared) >= 2  # the real output and at least one inner tensor
    assert all(row["cosine"] > 0.9999 for row in layers["nodes"])


def test_layers_names_the_first_divergent_node(small_onnx, storage, monkeypatch):
    from pymace.ops import conv

    real = conv.launch

    def broken(ctx, activation=None, **attrs):  # the conv's fused sigmoid computes a relu instead
        return real(ctx, activation="Relu" if activation == "Sigmoid" else activation, **attrs)

    monkeypatch.setattr(conv, "launch", broken)
    _, model = small_onnx
    r = roundtrip(validate.validate(model, layers=True, storage_dir=storage))
    first = r["layers"]["first_divergent"]
    assert not r["passed"] and first["op_type"] == "Conv" and first["tensor"] == "s"  # ONNX's Sigmoid output
    assert "first divergent node vs onnxruntime" in validate_text(r)


def test_metrics():
    want = np.linspace(-1, 1, 20, dtype=np.float32)
    same = validate.compare(want, want)
    assert same["cosine"] == pytest.approx(1) and same["sqnr_db"] is None and same["top1_agree"]
    noisy = validate.compare(want + 0.01, want)
    assert noisy["max_abs_error"] == pytest.approx(0.01, rel=1e-3) and 30 < noisy["sqnr_db"] < 40
    assert validate.compare(np.full(3, np.nan), np.ones(3))["finite"] is False
    assert not validate.classifier_like(np.zeros((1, 4, 8, 8))) and validate.classifier_like(np.zeros((1, 1000)))
