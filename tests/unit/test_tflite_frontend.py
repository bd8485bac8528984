"""The TFLite frontend on hostile and unsupported files: one clear error, never a crash; and its padding rule."""
from __future__ import annotations

import struct
from pathlib import Path

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


# ---- sparse constants (DENSIFY) ----
from pymace.frontends import tflite_sparse  # noqa: E402

SPARSE_FIXTURE = Path(__file__).parent.parent / "fixtures" / "tflite" / "sparse.tflite"


def _csr(dense: np.ndarray) -> tuple[np.ndarray, tflite_sparse.Sparsity]:
    """A 2-d array in TFLite's CSR form: rows dense, columns sparse."""
    rows, cols = np.nonzero(dense)
    segments = np.searchsorted(rows, np.arange(dense.shape[0] + 1))
    dims = [tflite_sparse.Dim(dense_size=dense.shape[0]), tflite_sparse.Dim(segments=segments, indices=cols)]
    return dense[rows, cols], tflite_sparse.Sparsity([0, 1], [], dims)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.floats(0.0, 1.0), st.integers(0, 2**31))
def test_densify_csr_roundtrip(rows, cols, density, seed):
    rng = np.random.default_rng(seed)
    dense = (rng.standard_normal((rows, cols)) * (rng.uniform(size=(rows, cols)) < density)).astype(np.float32)
    values, sp = _csr(dense)
    np.testing.assert_array_equal(tflite_sparse.densify(values, dense.shape, sp, "w"), dense)


def test_densify_block_sparse():
    """Blocks of 1x4 along dim 1 (block_map [1]); traversal: block rows, block columns (CSR), then the block."""
    dense = np.zeros((2, 8), np.float32)
    dense[0, 4:8] = [1, 2, 3, 4]
    dense[1, 0:4] = [5, 6, 7, 8]
    sp = tflite_sparse.Sparsity([0, 1, 2], [1], [
        tflite_sparse.Dim(dense_size=2), tflite_sparse.Dim(segments=np.array([0, 1, 2]), indices=np.array([1, 0])),
        tflite_sparse.Dim(dense_size=4)])
    np.testing.assert_array_equal(tflite_sparse.densify(np.arange(1, 9, dtype=np.float32), (2, 8), sp, "w"), dense)


@pytest.mark.parametrize("damage", ["index_out_of_range", "segments_past_indices", "too_few_values", "bad_order"])
def test_densify_malformed_metadata(damage):
    values, sp = _csr(np.eye(4, dtype=np.float32))
    if damage == "index_out_of_range":
        sp.dims[1].indices = sp.dims[1].indices + 10
    elif damage == "segments_past_indices":
        sp.dims[1].segments = sp.dims[1].segments * 3
    elif damage == "too_few_values":
        values = values[:2]
    else:
        sp.traversal_order = [0, 0]
    with pytest.raises(ModelError):
        tflite_sparse.densify(values, (4, 4), sp, "w")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), min_size=1, max_size=8))
def test_corrupted_sparse_model_never_crashes(tmp_path, flips):
    buf = bytearray(SPARSE_FIXTURE.read_bytes())
    for pos, value in flips:
        buf[8 + pos % (len(buf) - 8)] = value
    try:
        load_bytes(tmp_path, bytes(buf))
    except (ModelError, ConvertError):
        pass


def test_sparse_weights_are_dense_constants():
    graph = tflite.load(SPARSE_FIXTURE)
    weights = [t for t in graph.tensors.values() if t.data is not None and t.data.ndim >= 2]
    assert weights and all(t.data.dtype == np.float32 for t in weights)
    assert all(float((t.data == 0).mean()) > 0.5 for t in weights)  # the pruned weights, zeros restored


def test_quantization_parameters_checked(tmp_path):
    """Scales whose count does not match the quantized dimension are a malformed file, named."""
    from pymace.frontends import tflite_reader

    with pytest.raises(ModelError, match="quantization"):
        class _Q:
            def ScaleLength(self): return 3  # noqa: E704
            def ScaleAsNumpy(self): return np.ones(3, np.float32)  # noqa: E704
            def ZeroPointLength(self): return 3  # noqa: E704
            def ZeroPointAsNumpy(self): return np.zeros(3, np.int64)  # noqa: E704
            def QuantizedDimension(self): return 0  # noqa: E704
        tflite_reader._quant(_Q(), (4, 2), "w")


def test_builtin_code_without_deprecated_field(tmp_path):
    """ai-edge-quantizer stores builtin_code only (deprecated_builtin_code 0, i.e. ADD): codes are LiteRT's
    max(builtin_code, deprecated_builtin_code), so DEQUANTIZE/QUANTIZE are not read as ADD."""
    from tests.tflite_build import repack

    src = (Path(__file__).parent.parent / "fixtures" / "tflite" / "quant_int8.tflite").read_bytes()

    def zero_deprecated(model):
        for oc in model.operatorCodes:
            oc.builtinCode = max(oc.builtinCode, oc.deprecatedBuiltinCode)
            oc.deprecatedBuiltinCode = 0

    data = repack(src, zero_deprecated)
    plain = load_bytes(tmp_path, src)
    edited = load_bytes(tmp_path, data)
    assert [n.op_type for n in edited.nodes] == [n.op_type for n in plain.nodes]
    assert edited.metadata["tflite_ops"] == plain.metadata["tflite_ops"]
    assert "QUANTIZE" in edited.metadata["tflite_ops"] or "DEQUANTIZE" in edited.metadata["tflite_ops"]
