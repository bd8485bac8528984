"""conv_gemm's default tiling on a GPU: K split into pieces down to GEMM_MIN_SLICES slices while the layer has
too few work-groups, and on NVIDIA a split of at most LAST_MAX_SPLIT parts summed by each tile's last work-group
(no reduction launch) — elsewhere the split-last fences are not proven, so every split keeps its reduction."""
from __future__ import annotations

import dataclasses

import pytest

from pymace.ops import conv_gemm
from pymace.ops.base import DeviceTraits

NVIDIA = DeviceTraits(True, 132, 1024, (1024, 1024, 64), 49152, False, "gpu", "NVIDIA Corporation")
OTHER = dataclasses.replace(NVIDIA, vendor="Some GPU vendor")


@pytest.mark.parametrize("m, pixels, k, split", [
    (32, 196, 1152, 16),  # a DenseNet growth conv: 4 tiles, 36 slices -> 16 splits of 2 slices
    (512, 49, 4608, 64),  # a ResNet 3x3 at 7x7: 8 tiles, 144 slices
    (64, 3136, 576, 8),  # 49 tiles: split until 2 work-groups a compute unit (392 >= 264)
    (24, 3136, 144, 2),  # 5 slices: only one split keeps 2 slices each
    (64, 3136, 64, 1),  # 2 slices: no split
])
def test_k_is_split_into_short_pieces_while_work_groups_are_few(m, pixels, k, split):
    tiling = conv_gemm.default_tiling(m, pixels, k, 1, NVIDIA)
    assert tiling.split == split
    slices = -(-k // tiling.tk)
    assert split == 1 or slices // split >= conv_gemm.GEMM_MIN_SLICES


def test_shallow_splits_are_summed_in_kernel_on_nvidia_only():
    shallow, deep = (24, 3136, 144), (32, 196, 1152)
    assert conv_gemm.default_tiling(*shallow, 1, NVIDIA).last
    assert not conv_gemm.default_tiling(*deep, 1, NVIDIA).last  # 16 parts: the reduction launch is faster
    assert not conv_gemm.default_tiling(*shallow, 1, OTHER).last
    assert not conv_gemm.default_tiling(64, 3136, 64, 1, NVIDIA).last  # no split, nothing to sum
    assert conv_gemm.split_last_options(NVIDIA) == ("-DSPLIT_LAST=1", "-DPTX_FENCE")


def test_a_fused_separable_convs_shallow_split_is_summed_in_kernel_on_nvidia_too():
    """MobileNetV2's 14x14 blocks: depthwise 384 -> 1x1 64 splits K in 4 (summed by the last work-group on
    NVIDIA, no reduction launch), 576 -> 96 in 8 (the reduction launch)."""
    from pymace.ops import separable_conv

    shallow = separable_conv.fused_tiling(64, 196, 384, 1, NVIDIA)
    assert shallow.split == 4 and shallow.last
    assert not separable_conv.fused_tiling(64, 196, 384, 1, OTHER).last
    deep = separable_conv.fused_tiling(96, 196, 576, 1, NVIDIA)
    assert deep.split == 8 and not deep.last
