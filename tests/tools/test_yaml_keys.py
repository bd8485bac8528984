"""A MACE deployment YAML as MACE users write it converts unedited: MACE's build-only keys are accepted with one
warning naming them; every unknown key is listed at once, each with its line."""
from __future__ import annotations

import logging
import shutil

import pytest

from pymace.deploy import BUILD_ONLY_KEYS, load_config
from pymace.errors import ConfigError
from pymace.tools import zoo


@pytest.fixture(scope="module")
def rnet():
    return zoo.source("mtcnn_rnet")


def write(tmp_path, rnet, top: str = "", model: str = "") -> str:
    shutil.copy(rnet, tmp_path / "rnet.onnx")
    path = tmp_path / "deploy.yml"
    path.write_text(f"library_name: faces\n{top}models:\n  rnet:\n    platform: onnx\n"
                    f"    model_file_path: rnet.onnx\n{model}    runtime: gpu\n")
    return str(path)


MACE_TOP = "target_abis: [arm64-v8a, armeabi-v7a]\ntarget_socs: [sdm845]\nmodel_graph_format: file\n" \
           "model_data_format: file\nbuild_type: proto\nlinkshared: 0\nembed_model_data: 1\n"
MACE_MODEL = "    obfuscate: 0\n    winograd: 4\n    nnlib_graph_mode: 0\n    input_ranges: -1,1\n"


def test_build_only_keys_are_accepted_with_one_warning(tmp_path, rnet, caplog):
    caplog.set_level(logging.WARNING, logger="pymace.deploy")
    config = load_config(write(tmp_path, rnet, MACE_TOP, MACE_MODEL))
    assert list(config.models) == ["rnet"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    for key in ("target_abis (line 2)", "target_socs (line 3)", "embed_model_data (line 8)", "winograd (line 14)",
                "obfuscate (line 13)", "input_ranges (line 16)"):
        assert key in warnings[0], key
    assert {"target_abis", "winograd", "obfuscate", "model_graph_format"} <= set(BUILD_ONLY_KEYS)


def test_unknown_keys_are_listed_at_once_with_their_lines(tmp_path, rnet):
    path = write(tmp_path, rnet, "libary_name: x\n" + MACE_TOP, "    runtim: cpu\n    data_typ: fp16_fp32\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    text = str(error.value)
    assert text.startswith(f"{path}:2: unknown keys ")
    for key, line in (("libary_name", 2), ("runtim", 14), ("data_typ", 15)):
        assert f"'{key}'" in text and f"(line {line})" in text, key
    assert "target_abis" not in text  # build-only keys are not errors


def test_a_misspelt_required_key_is_listed_too(tmp_path, rnet):
    path = tmp_path / "deploy.yml"
    path.write_text("models:\n  rnet:\n    platfrom: onnx\n    model_file_path: rnet.onnx\n    winograd: 2\n")
    with pytest.raises(ConfigError, match=r"unknown key 'platfrom' in model 'rnet' \(line 3\)"):
        load_config(path)


def test_cli_converts_a_mace_yaml_unedited(tmp_path, rnet):
    import subprocess
    import sys

    path = write(tmp_path, rnet, MACE_TOP, MACE_MODEL + "    subgraphs:\n      - input_tensors: input_2\n"
                                                       "        input_shapes: 1,24,24,3\n")
    done = subprocess.run([sys.executable, "-m", "pymace.cli", "convert", path, "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("build-only keys accepted and ignored") == 1 and "Traceback" not in done.stderr
    assert (tmp_path / "out" / "rnet.pmace").exists()
