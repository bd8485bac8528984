"""The command line: user mistakes end in one line on stderr and a non-zero exit, never a traceback; --json
output parses."""
import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pymace.tools import zoo
from tests.helpers import make_model


def pymace(*args, cwd=None):
    done = subprocess.run([sys.executable, "-m", "pymace.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)
    return done.returncode, done.stdout, done.stderr


def assert_one_line_error(code, err, *words):
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.startswith("pymace: error:")]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], lines[0]


@pytest.fixture(scope="module")
def rnet():
    return zoo.fetch("mtcnn_rnet")


def test_truncated_onnx(tmp_path):
    src = zoo.source("mtcnn_rnet").read_bytes()
    bad = tmp_path / "cut.onnx"
    bad.write_bytes(src[: len(src) // 3])
    assert_one_line_error(*pymace("convert", bad, "-o", tmp_path / "x.pmace")[::2], "cut.onnx")


def test_unsupported_op_lists_ops_and_nodes(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="ok"), helper.make_node("Unique", ["a"], ["b"], name="uniq1"),
             helper.make_node("Det", ["b"], ["y"], name="det7")]
    path = tmp_path / "odd.onnx"
    onnx.save(make_model(helper.make_graph(nodes, "g", [x], [y]), 17),
              path)
    assert_one_line_error(*pymace("convert", path, "-o", tmp_path / "x.pmace")[::2], "Unique", "uniq1", "Det", "det7")


def test_yaml_unknown_key_names_key_and_line(tmp_path, rnet):
    cfg = tmp_path / "deploy.yml"
    cfg.write_text(f"library_name: faces\nmodels:\n  rnet:\n    platform: onnx\n"
                   f"    model_file_path: {zoo.source('mtcnn_rnet')}\n    target_abiz: [arm64]\n")
    assert_one_line_error(*pymace("convert", cfg, "-o", tmp_path)[::2], "target_abiz", ":6")


def test_gencode_builds_for_the_data_type_the_yaml_records(tmp_path):
    cfg = tmp_path / "deploy.yml"
    cfg.write_text(f"models:\n  rnet:\n    platform: onnx\n    model_file_path: {zoo.source('mtcnn_rnet')}\n"
                   "    subgraphs:\n      - input_tensors: input_2\n        input_shapes: 1,24,24,3\n"
                   "    data_type: fp16_fp32\n")
    code, out, err = pymace("convert", cfg, "-o", tmp_path, "--gencode", "--json", "--storage-dir", tmp_path / "s")
    assert code == 0, err
    (built,) = json.loads(out)["gencode"]
    code, out, err = pymace("inspect", built["cache_file"], "--json")
    assert code == 0, err
    options = [e["options"] for e in json.loads(out)["entries"]]
    assert options and all("-DFP16_STORAGE" in o for o in options), options


def test_yaml_sha256_mismatch(tmp_path):
    cfg = tmp_path / "deploy.yml"
    cfg.write_text(f"models:\n  rnet:\n    platform: onnx\n    model_file_path: {zoo.source('mtcnn_rnet')}\n"
                   f"    model_sha256_checksum: {'0' * 64}\n")
    assert_one_line_error(*pymace("convert", cfg, "-o", tmp_path)[::2], "sha256")


def test_wrong_input_shape(tmp_path, rnet):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((1, 3, 24, 24)).astype(np.float32))
    code, _, err = pymace("run", rnet, "--input", f"input_2={tmp_path / 'x.npy'}", "--output-dir", tmp_path)
    assert_one_line_error(code, err, "input_2", "[1, 3, 24, 24]", "[1, 24, 24, 3]")


@pytest.mark.parametrize("args,words", [
    (["run", "/nonexistent/model.pmace"], ["no such file"]),
    (["run", "{rnet}", "--input", "input_2=/nonexistent.npy"], ["cannot read"]),
    (["run", "{rnet}", "--device", "tpu"], ["no OpenCL device matches", "tpu"]),
    (["inspect", "/nonexistent/cache.bin", "--extract", "{tmp}"], ["unreadable"]),
    (["zoo", "fetch", "resnet9000"], ["no zoo model"]),
])
def test_user_mistakes(tmp_path, rnet, args, words):
    args = [a.format(rnet=rnet, tmp=tmp_path / "x") for a in args]
    assert_one_line_error(*pymace(*args)[::2], *words)


def test_non_numeric_input(tmp_path, rnet):
    np.save(tmp_path / "x.npy", np.full((1, 24, 24, 3), "a"))
    code, _, err = pymace("run", rnet, "--input", f"input_2={tmp_path / 'x.npy'}", "--output-dir", tmp_path)
    assert_one_line_error(code, err, "input_2", "float32")


def test_output_path_that_cannot_be_written(tmp_path, rnet):
    np.save(tmp_path / "x.npy", np.zeros((1, 24, 24, 3), np.float32))
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = pymace("run", rnet, "--input", f"input_2={tmp_path / 'x.npy'}", "--output-dir", blocker / "out")
    assert_one_line_error(code, err, "cannot write", str(blocker / "out"))


def test_run_writes_one_npy_per_output(tmp_path, rnet):
    x = np.random.default_rng(1).uniform(-1, 1, (1, 24, 24, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, out, err = pymace("run", rnet, "--input", f"input_2={tmp_path / 'x.npy'}", "--output-dir", tmp_path / "o",
                            "--json", "--storage-dir", tmp_path / "s")
    assert code == 0, err
    written = json.loads(out)["outputs"]
    assert set(written) == {"dense_2", "softmax_1"}
    probs = np.load(written["softmax_1"]["path"])
    assert probs.shape == (1, 2) and abs(float(probs.sum()) - 1) < 1e-5


def test_json_outputs_parse(tmp_path, rnet):
    code, out, _ = pymace("devices", "--json")
    assert code == 0 and json.loads(out)["devices"]
    code, out, _ = pymace("zoo", "list", "--json")
    assert code == 0 and {"mobilenet_v2", "blazeface"} <= {m["name"] for m in json.loads(out)["models"]}
    code, out, err = pymace("cache", "build", rnet, "--json", "--storage-dir", tmp_path)
    assert code == 0, err
    cache = json.loads(out)["cache_file"]
    code, out, err = pymace("inspect", cache, "--model", rnet, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["format"] == "pymace program cache" and report["coverage"]["complete"]


@pytest.mark.parametrize("command", ["benchmark", "tune", "report", "cache build", "convert --gencode"])
def test_tools_that_time_kernels_refuse_the_reference_device(rnet, command):
    assert_one_line_error(*pymace(*command.split(), rnet, "--device", "reference")[::2], "needs an OpenCL device")


def test_cache_coverage_refuses_the_reference_device(rnet, tmp_path):
    code, _, err = pymace("inspect", tmp_path / "cache.bin", "--model", rnet, "--device", "reference")
    assert_one_line_error(code, err, "needs an OpenCL device")


def test_validate_on_the_reference_device(rnet):
    code, out, err = pymace("validate", rnet, "--device", "reference", "--json")
    assert code == 0, err
    assert json.loads(out)["device"] == "NumPy reference executor"


def test_run_converts_a_source_model_at_the_input_shape_given(tmp_path):
    """A graph that differs by input size (a Slice that keeps every row of a 224-row input and not of a 352-row
    one: the probe shapes) cannot keep its dims symbolic: `run` on the .onnx says to fix them with --input-shape,
    and given one, converts at that shape and runs."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    inits = [numpy_helper.from_array(np.array(v, np.int64), k) for k, v in (("s", [0]), ("e", [300]), ("a", [2]))]
    nodes = [helper.make_node("Slice", ["x", "s", "e", "a"], ["t"]), helper.make_node("Relu", ["t"], ["y"])]
    src, storage, out = tmp_path / "rows.onnx", tmp_path / "storage", tmp_path / "out"
    onnx.save(make_model(helper.make_graph(nodes, "g", [x], [y], inits), 17), src)
    code, _, err = pymace("run", src, "--device", "reference", "--storage-dir", storage, "--output-dir", out)
    assert_one_line_error(code, err, "--input-shape")
    code, _, err = pymace("run", src, "--input-shape", "x=1,3,320,16", "--device", "reference",
                          "--storage-dir", storage, "--output-dir", out)
    assert code == 0, err
    rows = np.load(next(out.glob("*.npy")))
    assert rows.shape == (1, 3, 300, 16) and rows.min() >= 0


def test_run_converts_ppocr_cls_with_symbolic_dims_and_at_a_given_shape(tmp_path):
    """PP-OCR's direction classifier keeps its dims symbolic (its per-channel Adds fold at every batch size:
    passes/fold_channel_affine.py); `run` converts it as it is, or at the input shape given, and runs."""
    src = zoo.source("ppocr_cls")
    for k, shape in enumerate((None, "x=1,3,48,192")):
        out = tmp_path / f"out{k}"
        code, _, err = pymace("run", src, *(["--input-shape", shape] if shape else []), "--device", "reference",
                              "--storage-dir", tmp_path / f"storage{k}", "--output-dir", out)
        assert code == 0, err
        probabilities = np.load(next(out.glob("*.npy")))
        assert probabilities.shape[1] == 2 and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
