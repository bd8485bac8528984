"""Hostile-input tests: the small model of the reliability study (Conv3x3+Relu → Conv1x1 → GAP → Flatten →
Softmax), converted once, and tools to rewrite one field of a converted model."""
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from tests.helpers import make_model


def small_onnx(path) -> None:
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    r = np.random.default_rng(0)
    g = h.make_graph([h.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["c"], ["r"]),
                      h.make_node("Conv", ["r", "W2"], ["c2"]), h.make_node("GlobalAveragePool", ["c2"], ["p"]),
                      h.make_node("Flatten", ["p"], ["f"]), h.make_node("Softmax", ["f"], ["y"], axis=1)], "small",
                     [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 16, 16])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, 4])],
                     [nh.from_array(r.standard_normal((8, 3, 3, 3)).astype(np.float32), "W"),
                      nh.from_array(r.standard_normal((4, 8, 1, 1)).astype(np.float32), "W2")])
    onnx.save(make_model(g, 13), str(path))


@pytest.fixture(scope="session")
def small_model(tmp_path_factory):
    """(path of small.pmace, its input x) — convert once per session; tests copy, never modify, it."""
    from pymace.tools.convert import convert

    d = tmp_path_factory.mktemp("small")
    small_onnx(d / "small.onnx")
    convert(d / "small.onnx", d / "small.pmace")
    x = np.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype(np.float32)
    np.save(d / "x.npy", x)
    return d / "small.pmace", x


def rewrite(src, dst, edit_doc=None, members=None, compression=zipfile.ZIP_STORED, edit_text=None) -> None:
    """Copy the model `src` to `dst`: graph.json through `edit_doc(doc)` (edits in place) and then its text through
    `edit_text(str) -> str`, members through `members(name, bytes) -> bytes | None` (None drops the member)."""
    with zipfile.ZipFile(src) as z:
        doc = json.loads(z.read("graph.json"))
        blobs = {n: z.read(n) for n in z.namelist() if n != "graph.json"}
    if edit_doc:
        edit_doc(doc)
    text = json.dumps(doc)
    with zipfile.ZipFile(dst, "w", compression) as z:
        z.writestr("graph.json", edit_text(text) if edit_text else text)
        for n, b in blobs.items():
            b = members(n, b) if members else b
            if b is not None:
                z.writestr(n, b)


def set_shape(name, shape):
    def edit(doc):
        next(t for t in doc["tensors"] if t["name"] == name)["shape"] = shape
    return edit


def node_attr(op_type, key, value, index=0):
    def edit(doc):
        [n for n in doc["nodes"] if n["op_type"] == op_type][index]["attrs"][key] = value
    return edit


def run_cli(*args, timeout=300, env=None):
    """`pymace ARGS` in a subprocess: (returncode, stdout, stderr)."""
    done = subprocess.run([sys.executable, "-m", "pymace.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)
    return done.returncode, done.stdout, done.stderr


def assert_one_line_error(rc, out, err, *words):
    assert rc == 1, f"exit {rc}, stderr: {err[-2000:]}"
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.strip() and "warning" not in line.lower()]
    assert len(lines) == 1 and lines[0].startswith("pymace: error:"), err[-2000:]
    for w in words:
        assert w in lines[0], lines[0]
