"""The deployment YAML: MACE's keys, errors that name key and line, sha256 pinning, conversion."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from pymace.deploy import convert_config, load_config
from pymace.errors import ConfigError, PymaceError
from pymace.ir import pmace_file
from pymace.reference import executor
from pymace.tools import zoo


@pytest.fixture(scope="session")
def rnet(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    path = d / "rnet.onnx"
    shutil.copy(zoo.source("mtcnn_rnet"), path)
    return path


def _write(tmp_path, rnet, extra_model="", extra_top="", sha=None):
    (tmp_path / "models").mkdir(exist_ok=True)
    shutil.copy(rnet, tmp_path / "models" / "rnet.onnx")
    sha = sha or zoo.sha256_file(rnet)
    text = f"""library_name: faces
{extra_top}models:
  rnet:
    platform: onnx
    model_file_path: models/rnet.onnx
    model_sha256_checksum: {sha}
    subgraphs:
      - input_tensors: input_2
        input_shapes: 1,24,24,3
        input_data_formats: NHWC
        output_tensors: [dense_2, softmax_1]
        output_shapes: ["1,4", "1,2"]
    runtime: gpu
    data_type: fp16_fp32
    limit_opencl_kernel_time: 0
    validation_threshold:
      GPU: 0.995
{extra_model}"""
    path = tmp_path / "deploy.yml"
    path.write_text(text)
    return path


def test_load_config_keeps_mace_keys(tmp_path, rnet):
    cfg = load_config(_write(tmp_path, rnet))
    m = cfg.models["rnet"]
    assert cfg.library_name == "faces" and m.platform == "onnx" and m.data_type == "fp16_fp32"
    assert m.model_file_path == tmp_path / "models" / "rnet.onnx"  # relative to the YAML
    assert m.input_shapes() == {"input_2": [1, 24, 24, 3]}
    assert m.subgraphs[0].output_shapes == [[1, 4], [1, 2]] and m.validation_threshold == {"GPU": 0.995}


@pytest.mark.parametrize("written,shapes", [
    ("1,24,24,3", [[1, 24, 24, 3]]), ("[1, 24, 24, 3]", [[1, 24, 24, 3]]), ('["1,24,24,3"]', [[1, 24, 24, 3]]),
    ("[[1, 24, 24, 3]]", [[1, 24, 24, 3]]), ('["1,4", "1,2"]', [[1, 4], [1, 2]]), ('["4", "2"]', [[4], [2]]),
])
def test_shape_spellings(tmp_path, rnet, written, shapes):
    text = _write(tmp_path, rnet).read_text().replace("input_shapes: 1,24,24,3", f"input_shapes: {written}")
    (tmp_path / "deploy.yml").write_text(text.replace("input_tensors: input_2", "input_tensors: " +
                                                      ", ".join(["input_2", "other"][:len(shapes)])))
    assert load_config(tmp_path / "deploy.yml").models["rnet"].subgraphs[0].input_shapes == shapes


def test_convert_config_writes_a_model_that_runs(tmp_path, rnet):
    out = convert_config(_write(tmp_path, rnet), tmp_path / "out")
    assert out == [tmp_path / "out" / "rnet.pmace"]
    graph = pmace_file.load(str(out[0]))
    assert graph.metadata["data_type"] == "fp16_fp32" and graph.metadata["input_data_formats"] == {"input_2": "NHWC"}
    x = np.random.default_rng(0).standard_normal((1, 24, 24, 3)).astype(np.float32)
    assert executor.run(graph, {"input_2": x})["softmax_1"].sum() == pytest.approx(1, abs=1e-5)


def test_storage_dir_is_where_the_engine_keeps_its_caches(tmp_path, rnet, monkeypatch):
    from pymace import Engine
    from tests.helpers import opencl_devices

    (out,) = convert_config(_write(tmp_path, rnet, extra_top="storage_dir: caches\n"), tmp_path / "out")
    assert pmace_file.load(str(out)).metadata["storage_dir"] == str(tmp_path / "caches")
    if not opencl_devices():
        pytest.skip("needs an OpenCL device")
    monkeypatch.delenv("PYMACE_STORAGE_DIR", raising=False)
    engine = Engine(out)
    assert engine.storage_dir == str(tmp_path / "caches") and (tmp_path / "caches").is_dir()
    monkeypatch.setenv("PYMACE_STORAGE_DIR", str(tmp_path / "env"))
    assert Engine(out).storage_dir == str(tmp_path / "env")  # the environment (and --storage-dir) take precedence
    assert Engine(out, storage_dir=str(tmp_path / "flag")).storage_dir == str(tmp_path / "flag")


def test_unknown_key_names_key_and_line(tmp_path, rnet):
    path = _write(tmp_path, rnet, extra_model="    target_abiz: [arm64-v8a]\n")
    with pytest.raises(ConfigError, match=r"deploy.yml:18: unknown key 'target_abiz' in model 'rnet' \(line 18\)"):
        load_config(path)
    path = _write(tmp_path, rnet, extra_top="storage_dri: cache\n")
    with pytest.raises(ConfigError, match=r":2: unknown key 'storage_dri'"):
        load_config(path)


def test_sha256_mismatch_is_an_error(tmp_path, rnet):
    path = _write(tmp_path, rnet, sha="0" * 64)
    with pytest.raises(ConfigError, match="sha256"):
        convert_config(path, tmp_path / "out")
    assert not (tmp_path / "out" / "rnet.pmace").exists()


@pytest.mark.parametrize("text, match", [
    ("models: [1, 2]\n", "models must be a mapping"),
    ("models:\n  m:\n    platform: caffe\n    model_file_path: x.onnx\n", "platform is 'caffe'"),
    ("models:\n  m:\n    platform: onnx\n", "needs `model_file_path`"),
    ("models: {m: {platform: onnx, model_file_path: x.onnx, subgraphs: [{input_shapes: '1,a'}]}}\n", "not a shape"),
    ("models:\n  m: [\n", "not valid YAML"),
    ("library_name: x\n", "no `models:`"),
])
def test_bad_yaml_is_one_line_config_error(tmp_path, text, match):
    path = tmp_path / "d.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as e:
        load_config(path)
    assert "\n" not in str(e.value)


def test_missing_model_file_and_wrong_output_shape(tmp_path, rnet):
    path = _write(tmp_path, rnet)
    path.write_text(path.read_text().replace('"1,4"', '"1,5"'))
    with pytest.raises(ConfigError, match="dense_2.*1, 4"):
        convert_config(path, tmp_path / "out")
    (tmp_path / "models" / "rnet.onnx").unlink()
    with pytest.raises(PymaceError, match="does not exist"):
        convert_config(path, tmp_path / "out")
