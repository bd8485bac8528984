"""A core install: running a .pmace imports no converter, reference runtime, plotting or image library; the
torchvision model converts without onnx, to the very graph the ONNX path gives; a command whose extra is
missing says so in one line (validate), or marks validation skipped (demo, report)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pymace import extras
from pymace.tools import zoo

HEAVY = ("onnx", "onnxruntime", "matplotlib", "skimage", "PIL", "scipy", "tflite", "ai_edge_litert")


@pytest.fixture(scope="module")
def mobilenet():
    return str(zoo.fetch("mobilenet_v2"))


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_running_a_pmace_imports_nothing_heavy(mobilenet, storage):
    code = f"""
import sys
import numpy as np
import pymace
engine = pymace.Engine({mobilenet!r}, device="cpu", storage_dir={storage!r})
x = np.random.default_rng(7).uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32)
assert engine.run({{"input": x}})["logits"].shape == (1, 1000)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r} or m.startswith("pymace.frontends"))
assert not heavy, heavy
print("lean")
"""
    done = run_python(code)
    assert done.returncode == 0 and "lean" in done.stdout, done.stderr


def test_torchvision_model_converts_without_onnx_to_the_onnx_paths_graph():
    pytest.importorskip("onnx")
    from pymace import passes
    from pymace.frontends import onnx as onnx_frontend
    from pymace.frontends import torch_mobilenet

    pth = zoo.source("mobilenet_v2")
    direct = passes.run(torch_mobilenet.to_graph(pth))
    via_onnx = passes.run(onnx_frontend.load(torch_mobilenet.to_onnx(pth)))
    assert [(n.name, n.op_type, n.inputs, n.outputs, n.attrs) for n in direct.nodes] == \
        [(n.name, n.op_type, n.inputs, n.outputs, n.attrs) for n in via_onnx.nodes]
    assert direct.tensors.keys() == via_onnx.tensors.keys()
    for name, t in direct.tensors.items():
        other = via_onnx.tensors[name]
        assert (t.shape, t.dtype, t.is_const) == (other.shape, other.dtype, other.is_const), name
        if t.is_const:
            np.testing.assert_array_equal(t.data, other.data, err_msg=name)


def test_require_names_the_package_and_the_extra(monkeypatch):
    monkeypatch.setattr(extras, "installed", lambda m: m not in ("onnxruntime", "onnx"))
    with pytest.raises(extras.MissingExtraError) as e:
        extras.require("validate", "reference", "onnxruntime", "onnx", "numpy")
    assert str(e.value) == "validate needs onnxruntime, onnx — pip install 'pymace[reference]'"
    extras.require("validate", "reference", "numpy")  # present: nothing raised


def blocked(*modules: str) -> str:
    """Python source that makes `modules` unimportable, as in an install without them."""
    return "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules)


def test_validate_without_onnxruntime_is_one_line(small_onnx):
    _, model = small_onnx
    done = run_python(blocked("onnxruntime") + f"from pymace.cli import main\nsys.exit(main(['validate', {model!r}]))")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == ("pymace: error: validate needs onnxruntime — pip install 'pymace[reference]'")


def test_convert_without_onnx_is_one_line(small_onnx, tmp_path):
    src, _ = small_onnx
    done = run_python(blocked("onnx") + "from pymace.cli import main\n"
                      f"sys.exit(main(['convert', {src!r}, '-o', {str(tmp_path / 'x.pmace')!r}]))")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "pymace: error: converting small.onnx needs onnx — pip install 'pymace[convert]'"


def test_report_without_a_reference_runtime_or_matplotlib(small_onnx, storage, tmp_path, monkeypatch):
    from pymace.tools import report

    _, model = small_onnx
    monkeypatch.setattr(extras, "installed", lambda m: m not in ("onnxruntime", "matplotlib"))
    text = report.write_report(model, tmp_path / "r.html", runs=3, storage_dir=storage).read_text()
    assert "not checked (validate needs onnxruntime — pip install &#x27;pymace[reference]&#x27;)" in text
    assert "plots need matplotlib" in text and "<img" not in text
