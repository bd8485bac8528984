"""conv_layer.pack_blocks, copied lane by lane, lays weights out as the plain formulation does: zero-padded blocks
of `block` output channels per group, [G, ceil(Mg/block), R, block]."""
import numpy as np
import pytest

from pymace.ops.conv_layer import pack_blocks


def plain(w2d, group, block):
    m, r = w2d.shape
    mg = m // group
    mbg = -(-mg // block)
    out = np.zeros((group, mbg * block, r), np.float32)
    out[:, :mg] = w2d.reshape(group, mg, r)
    return np.ascontiguousarray(out.reshape(group, mbg, block, r).transpose(0, 1, 3, 2))


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
@pytest.mark.parametrize("m, r, group", [(960, 160, 1), (32, 9, 32), (1000, 1280, 1), (13, 7, 1), (6, 5, 2),
                                         (30, 9, 3), (3, 1, 1), (1, 1, 1), (0, 4, 1), (17, 3, 1)])
@pytest.mark.parametrize("block", [1, 4, 6, 8, 16])
def test_lanes_match_the_plain_layout(m, r, group, block, dtype):
    w = np.random.default_rng(m * r + block).standard_normal((m, r)).astype(dtype)
    got, want = pack_blocks(w, group, block), plain(w, group, block)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    assert got.shape == want.shape and np.array_equal(got, want)
