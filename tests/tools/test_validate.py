"""validate: passes on correct kernels, picks the source framework's runtime, falls back to numpy when the
source is gone, and with a deliberately broken kernel fails and names the node that broke."""
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
    r = roundtrip(validate.validate(small_pmace, storage_dir=storage))
    assert r["reference"] == "numpy" and r["passed"] and r["diff"] is None
    assert r["reference_note"] == "no source model recorded: the NumPy reference executor"
    (out,) = r["outputs"]
    assert out["name"] == "y" and out["shape"] == [1, 3, 8, 8]
    assert out["cosine"] > 0.9999 and out["max_abs_error"] < 1e-4
    assert r["threshold"] == {"metric": "cosine", "value": 0.999}


def test_broken_kernel_fails_and_names_the_node(small_pmace, storage, monkeypatch):
    real = unary.launch

    def broken(ctx, _op_type="Relu", **attrs):  # the relu node computes a sigmoid instead
        return real(ctx, _op_type="Sigmoid" if ctx.node.name == "relu" else _op_type, **attrs)

    monkeypatch.setattr(unary, "launch", broken)
    r = roundtrip(validate.validate(small_pmace, storage_dir=storage))
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


def test_source_gone_falls_back_to_numpy(small_onnx, storage):
    src, model = small_onnx
    os.remove(src)
    r = validate.validate(model, storage_dir=storage)
    assert r["reference"] == "numpy" and src in r["reference_note"] and r["passed"]
    with pytest.raises(PymaceError, match="gone"):
        validate.validate(model, reference="onnxruntime", storage_dir=storage)


def test_threshold_override_and_seed(small_pmace, storage):
    r = validate.validate(small_pmace, threshold=1.01, seed=3, storage_dir=storage)  # no cosine reaches 1.01
    assert not r["passed"] and r["threshold"]["value"] == 1.01 and r["input"] == {
        "kind": "random", "seed": 3, "distribution": "uniform(-1, 1)"}
    assert r["diff"]["first_divergent"]["node"] == "conv"


def test_yaml_threshold_for_the_runtime_it_ran_on(small_pmace, storage, tmp_path):
    from pymace import Engine
    from pymace.ir import pmace_file

    graph = pmace_file.load(small_pmace)
    graph.metadata["validation_threshold"] = {"CPU": 1.01, "GPU": 1.02}  # as deploy records MACE's per-runtime keys
    path = tmp_path / "with_threshold.pmace"
    pmace_file.save(graph, str(path))
    r = validate.validate(path, storage_dir=storage)
    assert not r["passed"] and r["threshold"]["value"] == (1.02 if Engine(graph, storage_dir=storage).device.is_gpu
                                                           else 1.01)
    assert validate.validate(path, threshold=0.5, storage_dir=storage)["threshold"]["value"] == 0.5


def test_image_input_is_resized_to_the_model(small_pmace, storage, tmp_path):
    import skimage.data
    import skimage.io

    path = tmp_path / "chelsea.png"
    skimage.io.imsave(path, skimage.data.chelsea())
    r = validate.validate(small_pmace, image=str(path), storage_dir=storage)
    assert r["input"]["kind"] == "image" and r["input"]["image"] == str(path) and r["passed"]


def test_metrics():
    want = np.linspace(-1, 1, 20, dtype=np.float32)
    same = validate.compare(want, want)
    assert same["cosine"] == pytest.approx(1) and same["sqnr_db"] is None and same["top1_agree"]
    noisy = validate.compare(want + 0.01, want)
    assert noisy["max_abs_error"] == pytest.approx(0.01, rel=1e-3) and 30 < noisy["sqnr_db"] < 40
    assert validate.compare(np.full(3, np.nan), np.ones(3))["finite"] is False
    assert not validate.classifier_like(np.zeros((1, 4, 8, 8))) and validate.classifier_like(np.zeros((1, 1000)))
