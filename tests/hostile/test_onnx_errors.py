"""ONNX files that converted with a traceback (findings/reliability.md §8): external data that cannot be read,
MaxPool without kernel_shape, Cast without `to`, a STRING initializer. Each is one PymaceError line now."""
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from pymace.errors import PymaceError
from pymace.tools.convert import convert
from tests.helpers import make_model
from tests.hostile.conftest import assert_one_line_error, run_cli


def _external(location, offset=None, length=None) -> onnx.TensorProto:
    t = onnx.TensorProto(name="w", data_type=T.FLOAT, dims=[4])
    t.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        if value is not None:
            t.external_data.add(key=key, value=str(value))
    return t


def _add_model(init) -> onnx.ModelProto:
    g = h.make_graph([h.make_node("Add", ["x", "w"], ["y"])], "g", [h.make_tensor_value_info("x", T.FLOAT, [4])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)], [init])
    return make_model(g, 13)


def _setup(tmp_path):
    (tmp_path / "m").mkdir()
    np.arange(4, dtype=np.float32).tofile(tmp_path / "m" / "w.bin")
    (tmp_path / "outside.bin").write_bytes(b"\0" * 64)
    (tmp_path / "m" / "link.bin").symlink_to(tmp_path / "outside.bin")
    os.mkfifo(tmp_path / "m" / "fifo.bin")
    (tmp_path / "m" / "dir.bin").mkdir()


EXTERNAL = {
    "missing_file": ("nope.bin",), "absolute_path": ("/etc/passwd",), "parent_escape": ("../outside.bin",),
    "symlink_outside": ("link.bin",), "fifo": ("fifo.bin",), "directory": ("dir.bin",),
    "offset_beyond": ("w.bin", 1000), "length_beyond": ("w.bin", 0, 1000), "offset_not_a_number": ("w.bin", "abc"),
    "length_negative": ("w.bin", 0, -4), "length_too_short": ("w.bin", 0, 8), "empty_location": ("",),
}


@pytest.mark.parametrize("case", sorted(EXTERNAL))
def test_external_data_failures_are_one_line(tmp_path, case):
    _setup(tmp_path)
    path = tmp_path / "m" / "model.onnx"
    with open(path, "wb") as f:
        f.write(_add_model(_external(*EXTERNAL[case])).SerializeToString())
    with pytest.raises(PymaceError) as e:
        convert(path, tmp_path / "m.pmace")
    assert "\n" not in str(e.value)


def test_external_data_that_is_right_converts(tmp_path):
    _setup(tmp_path)
    path = tmp_path / "m" / "model.onnx"
    path.write_bytes(_add_model(_external("w.bin", 0, 16)).SerializeToString())
    g = convert(path, tmp_path / "m.pmace")
    np.testing.assert_array_equal(g.tensors["w"].data, np.arange(4))


def _save(tmp_path, nodes, inits=(), shape=(1, 2, 4, 4)):
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, list(shape))],
                     [h.make_tensor_value_info("y", T.FLOAT, None)], list(inits))
    path = tmp_path / "m.onnx"
    onnx.save(make_model(g, 13), str(path))
    return path


def test_maxpool_without_kernel_shape(tmp_path):
    path = _save(tmp_path, [h.make_node("MaxPool", ["x"], ["y"])])
    rc, out, err = run_cli("convert", path, "-o", tmp_path / "m.pmace")
    assert_one_line_error(rc, out, err, "MaxPool")


def test_cast_without_to(tmp_path):
    path = _save(tmp_path, [h.make_node("Cast", ["x"], ["y"])])
    with pytest.raises(PymaceError, match="Cast"):
        convert(path, tmp_path / "m.pmace")


@pytest.mark.parametrize("used", [True, False])
def test_string_initializer(tmp_path, used):
    s = nh.from_array(np.array([b"a", b"b"], dtype=object), "s")
    nodes = [h.make_node("Identity", ["x"], ["y"])] + ([h.make_node("Identity", ["s"], ["z"])] if used else [])
    path = _save(tmp_path, nodes, [s])
    with pytest.raises(PymaceError, match="string|object|numbers"):
        convert(path, tmp_path / "m.pmace")
    assert not (tmp_path / "m.pmace").exists()


def test_onnx_fifo_does_not_block(tmp_path):
    os.mkfifo(tmp_path / "m.onnx")
    rc, out, err = run_cli("convert", tmp_path / "m.onnx", "-o", tmp_path / "m.pmace", timeout=60)
    assert_one_line_error(rc, out, err, "not a regular file")


@pytest.mark.parametrize("command,name", [("convert", "m.tflite"), ("convert", "m.pth"), ("run", "m.onnx"),
                                          ("run", "m.tflite")])
def test_other_source_fifos_do_not_block(tmp_path, command, name):
    """The TFLite reader, the .pth digest and `run`'s source-model hash opened with a plain open: a FIFO blocked
    them forever (and /dev/zero would have been read without end). safe_io.open_regular refuses both at once."""
    os.mkfifo(tmp_path / name)
    args = ["-o", tmp_path / "m.pmace"] if command == "convert" else \
        ["--device", "reference", "--storage-dir", tmp_path / "st", "--output-dir", tmp_path / "o"]
    rc, out, err = run_cli(command, tmp_path / name, *args, timeout=60)
    assert_one_line_error(rc, out, err, "not a regular file")
