"""safe_io's own parse of np.save's header (the form every .pmace constant has) reads exactly what numpy's parser
reads, and hands anything else to numpy: a damaged header is never read another way."""
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymace import safe_io

SHAPES = [(), (0,), (1,), (7,), (2, 3), (32, 3, 3, 3), (1, 1, 1, 1, 1), (10**6, 0), (0, 5, 1 << 40)]
DTYPES = sorted(safe_io.NPY_DTYPES) + [">f4", ">i8"]


def numpy_header(data: bytes):
    f = io.BytesIO(data)
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(f)
    return shape, fortran, dtype, f.tell()


def npy(shape, dtype, fortran=False) -> bytes:
    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(f, {"descr": np.dtype(dtype).str, "fortran_order": fortran,
                                             "shape": shape})
    return f.getvalue()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fortran", [False, True])
def test_np_save_headers_match_numpy(shape, dtype, fortran):
    data = npy(shape, dtype, fortran)
    assert safe_io._NPY_HEADER.fullmatch(data[10:]), "np.save's header takes the fast path"
    assert safe_io._npy_header(memoryview(data)) == numpy_header(data)


def test_arrays_round_trip():
    for a in (np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.asfortranarray(np.ones((3, 2), np.int64)),
              np.array(3.5, np.float16), np.zeros((0, 4), np.uint8), np.array([True, False])):
        got = safe_io.npy_from_buffer(bytearray(safe_io.npy_bytes(a)), "a")
        assert got.dtype == a.dtype and got.shape == a.shape and np.array_equal(got, a)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_damaged_headers_read_as_numpy_reads_them(data):
    """A byte of the header changed, or a header cut short: the same result as numpy's parser, or both refuse."""
    raw = bytearray(npy((12, 3), "<f4") + b"\0" * 144)
    cut = data.draw(st.integers(1, len(raw)))
    for _ in range(data.draw(st.integers(1, 3))):
        raw[data.draw(st.integers(0, 79))] = data.draw(st.sampled_from(b"0123456789(), '<>|fiub{}:\n\x00\xff"))
    raw = bytes(raw[:cut])
    try:
        want = numpy_header(raw)
    except Exception:
        want = None
    try:
        got = safe_io._npy_header(memoryview(raw))
    except Exception:
        got = None
    assert got == want


def test_leading_zeros_and_long_headers_go_to_numpy():
    """(01, 2) is no Python literal: numpy refuses it, so the pattern must not read it as (1, 2)."""
    data = npy((1, 2), "<f4").replace(b"(1, 2), } ", b"(01, 2), }") + b"\0" * 8
    assert safe_io._NPY_HEADER.fullmatch(data[10:-8]) is None
    with pytest.raises(ValueError, match="not a readable"):
        safe_io.npy_from_buffer(data, "a")
    long = npy((1, 2), "<f4")[:-1] + b" " * 10000 + b"\n"
    long = long[:8] + (len(long) - 10).to_bytes(2, "little") + long[10:]
    with pytest.raises(ValueError, match="not a readable"):
        safe_io.npy_from_buffer(long + b"\0" * 8, "a")
