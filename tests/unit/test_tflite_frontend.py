"""The TFLite frontend on hostile and unsupported files: one clear error, never a crash; and its padding rule."""
from __future__ import annotations

import struct

import numpy as np
import pytest
import tflite as tfl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pymace.errors import ConvertError, ModelError, UnsupportedOpError
from pymace.frontends import tflite
from pymace.tools import zoo


@pytest.fixture(scope="module")
def blazeface() -> bytes:
    return zoo.source("blazeface").read_bytes()


def load_bytes(tmp_path, data: bytes):
    p = tmp_path / "m.tflite"
    p.write_bytes(data)
    return tflite.load(p)


def with_opcode(buf: bytes, old: int, new: int) -> bytes:
    """Rewrite every operator code `old` to `new` in place (both the int8 and the int32 field)."""
    out = bytearray(buf)
    model = tfl.Model.GetRootAsModel(buf, 0)
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        if max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()) == old:
            tab = oc._tab
            struct.pack_into("<b", out, tab.Pos + tab.Offset(4), new)  # deprecated_builtin_code (int8)
            if tab.Offset(10):
                struct.pack_into("<i", out, tab.Pos + tab.Offset(10), new)  # builtin_code (int32)
    return bytes(out)


@pytest.mark.parametrize("size", [0, 7, 8, 64, 1000, 20_000, 100_000])
def test_truncated_file(blazeface, tmp_path, size):
    with pytest.raises(ModelError):
        load_bytes(tmp_path, blazeface[:size])


def test_garbage(tmp_path):
    rng = np.random.default_rng(0)
    for _ in range(20):
        blob = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
        with pytest.raises(ModelError):
            load_bytes(tmp_path, blob[:4] + b"TFL3" + blob[8:])  # past the identifier check
    with pytest.raises(ModelError, match="not a TFLite model"):
        load_bytes(tmp_path, b"\x00" * 64)
    with pytest.raises(ModelError, match="cannot read"):
        tflite.load(tmp_path / "missing.tflite")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), min_size=1, max_size=8))
def test_corrupted_bytes_never_crash(blazeface, tmp_path, flips):
    """Corrupt bytes in the flatbuffer's tables (the first 8 KiB; weights follow): the model loads, or one
    pymace error says why."""
    buf = bytearray(blazeface)
    head = len(buf) - 8 if len(buf) < 8200 else 8192
    for pos, value in flips:
        buf[8 + pos % head] = value
    try:
        load_bytes(tmp_path, bytes(buf))
    except (ModelError, ConvertError):
        pass


def test_unsupported_op_lists_op_and_nodes(blazeface, tmp_path):
    relu, segment_sum = tfl.BuiltinOperator.RELU, tfl.BuiltinOperator.SEGMENT_SUM
    with pytest.raises(UnsupportedOpError) as e:
        load_bytes(tmp_path, with_opcode(blazeface, relu, segment_sum))
    assert set(e.value.unsupported) == {"SEGMENT_SUM"}
    assert "activation" in e.value.unsupported["SEGMENT_SUM"]  # the nodes, by their output tensors
    assert len(e.value.unsupported["SEGMENT_SUM"]) == 17
    assert "CONV_2D" in str(e.value)  # what is supported is listed too


def test_unchanged_model_still_loads(blazeface, tmp_path):
    relu = tfl.BuiltinOperator.RELU
    assert len(load_bytes(tmp_path, with_opcode(blazeface, relu, relu)).nodes) == 95


@pytest.mark.parametrize("size,k,s,d,want", [
    ((128, 128), (5, 5), (2, 2), (1, 1), [1, 1, 2, 2]),  # BlazeFace's stem: the extra pixel goes last
    ((64, 64), (3, 3), (1, 1), (1, 1), [1, 1, 1, 1]),
    ((64, 64), (2, 2), (2, 2), (1, 1), [0, 0, 0, 0]),
    ((7, 9), (3, 3), (2, 2), (2, 2), [2, 2, 2, 2]),
    ((10, 10), (1, 1), (3, 3), (1, 1), [0, 0, 0, 0]),
])
def test_same_pads(size, k, s, d, want):
    assert tflite.same_pads(size, k, s, d) == want
