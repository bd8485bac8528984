"""The deployment YAML is untrusted: a model name names the output file, so it may not leave the output folder;
deep nesting and NUL characters are one line, as every other mistake (findings/reliability.md §6, §8, §9)."""
import os

import pytest

from pymace.deploy import convert_config, load_config
from pymace.errors import ConfigError
from tests.hostile.conftest import assert_one_line_error, run_cli, small_onnx


def _yaml(tmp_path, name, path="small.onnx") -> str:
    small_onnx(tmp_path / "small.onnx")
    y = tmp_path / "deploy.yml"
    y.write_text(f"""library_name: lib
models:
  {name}:
    platform: onnx
    model_file_path: {path}
""")
    return y


@pytest.mark.parametrize("name", ['"../../escaped_model"', '"/var/tmp/abs_model"', '".hidden"', '"a/b"', '".."',
                                  '"a\\0b"', '""', '"name with space"'])
def test_model_names_stay_in_the_output_folder(tmp_path, name):
    y = _yaml(tmp_path, name)
    out = tmp_path / "deep" / "out"
    with pytest.raises(ConfigError, match="model name|NUL") as e:
        convert_config(y, out)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "escaped_model.pmace").exists() and not os.path.exists("/var/tmp/abs_model.pmace")
    assert not out.exists()


def test_plain_names_convert(tmp_path):
    y = _yaml(tmp_path, "small-v1.2_x")
    written = convert_config(y, tmp_path / "out")
    assert [p.name for p in written] == ["small-v1.2_x.pmace"]


def test_nul_in_a_path_is_one_line(tmp_path):
    y = _yaml(tmp_path, "m", path='"small\\0.onnx"')
    with pytest.raises(ConfigError, match="NUL"):
        load_config(y)


def test_deep_nesting_is_one_line(tmp_path):
    y = tmp_path / "deep.yml"
    y.write_text("models: " + "[" * 20000 + "]" * 20000 + "\n")
    rc, out, err = run_cli("convert", y, "-o", tmp_path / "out")
    assert_one_line_error(rc, out, err, str(y))


def test_nul_model_name_cli_is_one_line(tmp_path):
    y = _yaml(tmp_path, '"a\\0b"')
    rc, out, err = run_cli("convert", y, "-o", tmp_path / "out")
    assert_one_line_error(rc, out, err, "NUL")


def test_fifo_yaml_does_not_block(tmp_path):
    os.mkfifo(tmp_path / "deploy.yml")
    rc, out, err = run_cli("convert", tmp_path / "deploy.yml", "-o", tmp_path / "out", timeout=60)
    assert_one_line_error(rc, out, err, "not a regular file")
