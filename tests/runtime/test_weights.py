"""bind.Weights on a CPU device: an aligned constant becomes its buffer's memory (no copy), read-only and held by
the buffer; an unaligned one is copied as on any device; both read back what was given."""
import gc

import numpy as np
import pytest

from pymace.ops.base import HOST_ALIGN, aligned_zeros
from pymace.runtime import device as devices
from pymace.runtime.bind import Weights
from tests.helpers import opencl_devices

pytestmark = pytest.mark.skipif(not opencl_devices(), reason="needs an OpenCL device")
USE_HOST_PTR = 1 << 3


@pytest.fixture(scope="module")
def cpu(tmp_path_factory):
    try:
        info = devices.select("cpu", str(tmp_path_factory.mktemp("storage")))
    except Exception as e:  # noqa: BLE001 - no CPU OpenCL device here
        pytest.skip(f"no CPU device: {e}")
    cl = devices.cl
    context = cl.Context([info.cl_device])
    return cl, context, cl.CommandQueue(context), info.mem_base_addr_align


def read_back(cl, queue, buffer, like):
    out = np.empty_like(like)
    cl.enqueue_copy(queue, out, buffer)
    queue.finish()
    return out


def test_aligned_zeros_are_aligned():
    for shape in [(3,), (5, 7), (2, 3, 64, 6)]:  # (an empty one has no data to place)
        a = aligned_zeros(shape)
        assert a.shape == shape and a.dtype == np.float32 and a.flags.c_contiguous and a.flags.writeable
        assert a.ctypes.data % HOST_ALIGN == 0 and not a.any()


def test_aligned_weights_are_used_in_place(cpu):
    cl, context, queue, align = cpu
    weights = Weights(context, np.float32, align)
    data = aligned_zeros((40, 33))
    data[:] = np.random.default_rng(1).standard_normal(data.shape)
    unaligned = np.random.default_rng(2).standard_normal(1001).astype(np.float32)[1:]
    assert unaligned.ctypes.data % align
    placed, _ = weights.acquire(data)
    copied, _ = weights.acquire(unaligned)
    assert placed.flags & USE_HOST_PTR and not copied.flags & USE_HOST_PTR
    assert not placed.hostbuf.flags.writeable and np.shares_memory(placed.hostbuf, data)
    want = data.copy()
    del data
    gc.collect()  # the buffer holds the array: reading it back after the caller let go is still right
    assert np.array_equal(read_back(cl, queue, placed, want), want)
    assert np.array_equal(read_back(cl, queue, copied, unaligned), unaligned)


def test_without_host_align_everything_is_copied(cpu):
    cl, context, queue, _ = cpu
    weights = Weights(context, np.float16)
    data = aligned_zeros((8, 8))
    data[:] = 1.5
    buffer, _ = weights.acquire(data)
    assert not buffer.flags & USE_HOST_PTR
    assert np.array_equal(read_back(cl, queue, buffer, data.astype(np.float16)), data.astype(np.float16))
