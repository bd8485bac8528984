"""The CPU conv kernels' vectors and register blocking by the device's native float vector: where it is 16 wide
(AVX-512: 512-bit vectors, 32 registers) conv1x1_cpu's CPU_VW_WIDE pixels and CPU_1X1_MB_WIDE channels,
conv_rows_cpu's and conv_direct_cpu's CPU_ROW_VW_WIDE pixels, conv_cvec_cpu's CPU_CVEC_LANES_WIDE channels a
vector and CPU_CVEC_ACC_WIDE accumulators (stride 1); the narrow values elsewhere (AVX2) — and every CPU conv
case right with the choice this machine does not make, so both are checked on any CPU."""
from __future__ import annotations

import dataclasses

import pytest

from pymace.ops import conv, conv_cpu
from pymace.ops.base import DeviceTraits
from tests.helpers import opencl_devices
from tests.ops.test_ops import check_case

AVX2 = DeviceTraits(False, 2, 4096, (4096, 4096, 4096), 1 << 20, False, "cpu", "The pocl project", 0, 8)
AVX512 = dataclasses.replace(AVX2, native_float_width=16)
CPUS = [d for d in opencl_devices() if not d.is_gpu]
CPU_CASES = [c for c in conv.CASES if c.attrs.get("kernel_variant") in (None, "conv1x1_cpu", "conv_rows_cpu",
                                                                         "conv_direct_cpu", "conv_cvec_cpu")]


def test_the_blocking_follows_the_native_vector_width():
    assert conv_cpu.cvec_accumulators(AVX2, 1) == conv_cpu.CPU_CVEC_ACC < conv_cpu.CPU_CVEC_ACC_WIDE
    assert conv_cpu.cvec_accumulators(AVX512, 1) == conv_cpu.CPU_CVEC_ACC_WIDE
    assert conv_cpu.cvec_accumulators(AVX512, 2) == conv_cpu.CPU_CVEC_ACC
    assert conv_cpu.cvec_accumulators(dataclasses.replace(AVX2, native_float_width=0), 1) == conv_cpu.CPU_CVEC_ACC
    assert conv_cpu.one_by_one_channels(AVX2) == conv_cpu.CPU_1X1_MB < conv_cpu.CPU_1X1_MB_WIDE
    assert conv_cpu.one_by_one_channels(AVX512) == conv_cpu.CPU_1X1_MB_WIDE
    assert conv_cpu.pixel_vector(AVX2) == conv_cpu.CPU_VW < conv_cpu.pixel_vector(AVX512) == conv_cpu.CPU_VW_WIDE
    assert conv_cpu.cvec_lanes(AVX2) == 8 < conv_cpu.cvec_lanes(AVX512) == conv_cpu.CPU_CVEC_LANES_WIDE
    for mg, ow in ((64, 56), (16, 7), (8, 112), (32, 3)):
        for acc in (conv_cpu.CPU_CVEC_ACC, conv_cpu.CPU_CVEC_ACC_WIDE):
            for lanes in (8, 16):
                mv, px = conv_cpu.cvec_tile(mg, ow, acc, lanes)
                assert mv * px <= acc and px <= ow and (mv == 1) == (mg <= lanes)


@pytest.mark.skipif(not CPUS, reason="no OpenCL CPU device")
@pytest.mark.parametrize("case", CPU_CASES, ids=[c.name for c in CPU_CASES])
def test_cpu_cases_with_the_other_vectors(case, monkeypatch, tmp_path):
    machine_wide = conv_cpu.wide(CPUS[0].traits)
    monkeypatch.setattr(conv_cpu, "wide", lambda device: not machine_wide)
    for data_type in ("fp32", "fp16"):
        check_case(f"Conv-{case.name}-other-vectors", conv, case, CPUS[0], data_type, tmp_path)
