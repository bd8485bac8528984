"""run / benchmark / validate / report / demo on the command line, as benchmark_model and onnxruntime_perf_test
users type them: inputs from files or random in a range, --runs (--rounds), --duration, Chrome-trace and CSV
profile exports, timing from run, --json everywhere; validate's flags; report's format from -o."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest


def pymace(*args, timeout=600):
    import os

    done = subprocess.run([sys.executable, "-m", "pymace.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "250"})
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def x_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("inputs") / "x.npy"
    np.save(path, np.random.default_rng(3).uniform(-2, 2, (1, 3, 8, 8)).astype(np.float32))
    return path


def test_run_prints_timing_and_takes_a_bare_file_and_rounds(small_pmace, storage, x_file, tmp_path):
    code, out, err = pymace("run", small_pmace, "--input", x_file, "--rounds", 3, "--output-dir", tmp_path,
                            "--storage-dir", storage)
    assert code == 0, err
    assert "y [1, 3, 8, 8] → " in out and "init " in out and "median " in out and "over 3 runs" in out
    code, out, _ = pymace("run", small_pmace, "--input-range", "0,1", "--runs", 2, "--json", "--output-dir", tmp_path,
                          "--storage-dir", storage)
    timing = json.loads(out)["timing"]
    assert code == 0 and timing["runs"] == 2 and timing["median_ms"] > 0 and timing["init_ms"] > 0


def test_run_checks_inputs_before_the_device(small_pmace, storage, tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((1, 3, 4, 4), np.float32) + np.random.default_rng(0).uniform(size=(1, 3, 4, 4)))
    code, _, err = pymace("run", small_pmace, "--input", f"x={bad}", "--storage-dir", storage, "--device", "9:9")
    # the shape is wrong and the device does not exist: the input is what is reported (checked first)
    assert code == 1 and "has shape [1, 3, 4, 4], the model expects [1, 3, 8, 8]" in err and "Traceback" not in err
    code, _, err = pymace("run", small_pmace, "--input", "y=whatever.npy", "--storage-dir", storage)
    assert code == 1 and "the model's inputs are ['x']" in err


def test_benchmark_exports_a_chrome_trace_and_csv(small_pmace, storage, x_file, tmp_path):
    trace, table = tmp_path / "t.json", tmp_path / "t.csv"
    code, out, err = pymace("benchmark", small_pmace, "--runs", 4, "--warmup", 1, "--input", f"x={x_file}",
                            "--trace", trace, "--csv", table, "--json", "--storage-dir", storage)
    assert code == 0, err
    result = json.loads(out)
    assert result["input"]["kind"] == "files" and result["exported"] == [str(trace), str(table)]
    events = json.loads(trace.read_text())["traceEvents"]
    spans = [e for e in events if e["ph"] == "X"]
    assert len(spans) == len(result["profile"]["steps"]) and {e["tid"] for e in spans} == {1}
    assert [e["name"] for e in spans] == [s["node"] for s in result["profile"]["steps"]]
    for before, after in zip(spans, spans[1:]):  # back to back on one track, in microseconds
        assert after["ts"] == pytest.approx(before["ts"] + before["dur"], abs=1e-2)
    rows = list(csv.DictReader(table.read_text().splitlines()))
    assert {r["node"] for r in rows} == {"conv", "relu", "add"} and all(float(r["time_ms"]) >= 0 for r in rows)


def test_benchmark_duration_and_random_range(small_pmace, storage):
    code, out, err = pymace("benchmark", small_pmace, "--runs", 2, "--warmup", 0, "--duration", 0.5,
                            "--input-range", "0,255", "--input-shape", "x=1,3,8,8", "--json", "--storage-dir", storage)
    assert code == 0, err
    result = json.loads(out)
    assert result["duration_s"] == 0.5 and result["runs"] >= 2
    assert len(result["latency_ms"]["samples"]) == result["runs"]
    assert result["input"]["distribution"] == "uniform(0, 255)" and result["input"]["shapes"] == {"x": [1, 3, 8, 8]}
    code, _, err = pymace("benchmark", small_pmace, "--input-range", "5,1", "--storage-dir", storage)
    assert code == 1 and "LOW must be below HIGH" in err


def test_validate_flags(small_onnx, storage, tmp_path):
    src, model = small_onnx
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(8).uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32))
    code, out, err = pymace("validate", model, "--input", f"x={x}", "--storage-dir", storage)
    assert code == 0, err
    assert f"input: files x={x}" in out
    moved = tmp_path / "elsewhere.onnx"
    (tmp_path / "elsewhere.onnx").write_bytes(open(src, "rb").read())
    import os

    os.remove(src)
    code, _, err = pymace("validate", model, "--storage-dir", storage)
    assert code == 1 and "point at it with --source MODEL" in err and "PASS" not in err
    code, out, _ = pymace("validate", model, "--source", moved, "--samples", 2, "--json", "--storage-dir", storage)
    r = json.loads(out)
    assert code == 0 and r["reference"] == "onnxruntime" and r["input"]["samples"] == 2
    code, out, _ = pymace("validate", model, "--reference", "numpy", "--storage-dir", storage)
    assert code == 0 and "checks the kernels, not the conversion" in out


def test_dataset_mode_on_labelled_and_unlabelled_images(small_onnx, storage, tmp_path):
    """An ImageFolder tree (class folders by index) with loose unlabelled images beside it."""
    from PIL import Image

    _, model = small_onnx
    rng = np.random.default_rng(4)
    for klass in (3, 7):
        (tmp_path / "ds" / str(klass)).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "ds" / str(klass)
                                                                                  / f"{i}.png")
    Image.fromarray(rng.integers(0, 255, (9, 9, 3), dtype=np.uint8)).save(tmp_path / "ds" / "loose.jpg")
    code, out, err = pymace("validate", model, "--dataset", tmp_path / "ds", "--json", "--storage-dir", storage)
    assert code == 0, err
    r = json.loads(out)
    s = r["summary"]
    assert s["images"] == 5 and s["labelled"] == 4 and s["top1_agreement"] == 1.0 and s["cosine"]["min"] > 0.9999
    assert s["top1"]["pymace"] == s["top1"]["reference"]  # same predictions, so the same accuracy
    assert {row["label"] for row in r["images"]} == {3, 7, None}
    code, out, _ = pymace("validate", model, "--dataset", tmp_path / "ds", "--storage-dir", storage)
    assert "top-1 accuracy (4 labelled)" in out and "top-1 agreement 100.0% (5 images)" in out


def test_report_format_from_the_extension_and_demo_json_flag_parses(small_pmace, storage, tmp_path):
    code, out, err = pymace("report", small_pmace, "-o", tmp_path / "r.md", "--runs", 2, "--reference", "numpy",
                            "--storage-dir", storage)
    assert code == 0, err
    assert (tmp_path / "r.md").read_text().startswith("# pymace deployment report")
    from pymace.cli import build_parser

    assert build_parser().parse_args(["demo", "--json"]).json
    assert build_parser().parse_args(["benchmark", "m", "--rounds", "7"]).runs == 7


@pytest.mark.slow
def test_demo_json_prints_only_json(tmp_path):
    code, out, err = pymace("demo", "--json", "--out-dir", tmp_path, timeout=1200)
    assert code == 0, err
    result = json.loads(out)
    assert result["top5"][0]["label"] == "Egyptian cat" and result["report"].endswith("pymace-report.html")
