"""The CPU conv kernels' vectors and register blocking by the device's native float vector: where it is 16 wide
(AVX-512: 512-bit vectors, 32 registers) conv1x1_cpu's CPU_VW_WIDE pixels and CPU_1X1_MB_WIDE channels,
conv_rows_cpu's and conv_direct_cpu's CPU_ROW_VW_WIDE pixels, conv_cvec_cpu's CPU_CVEC_ACC_WIDE accumulators
(stride 1); the narrow values elsewhere (AVX2) — and their cases right with the choice this machine does not
make, so both are checked on any CPU."""
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
CVEC_CASES = [c for c in conv.CASES if c.attrs.get("kernel_variant") == "conv_cvec_cpu"]
ROWS_CASES = [c for c in conv.CASES if c.attrs.get("kernel_variant") in ("conv_rows_cpu", "conv_direct_cpu")
              or c.attrs.get("group", 1) > 1 and c.attrs.get("kernel_variant") is None]
ONE_BY_ONE_CASES = [c for c in conv.CASES if c.attrs.get("kernel_shape") == [1, 1] and c.attrs.get("group", 1) == 1
                    and c.attrs.get("kernel_variant") in (None, "conv1x1_cpu")]


def test_the_tile_follows_the_native_vector_width():
    assert conv_cpu.cvec_accumulators(AVX2, 1) == conv_cpu.CPU_CVEC_ACC < conv_cpu.CPU_CVEC_ACC_WIDE
    assert conv_cpu.cvec_accumulators(AVX512, 1) == conv_cpu.CPU_CVEC_ACC_WIDE
    assert conv_cpu.cvec_accumulators(AVX512, 2) == conv_cpu.CPU_CVEC_ACC
    assert conv_cpu.cvec_accumulators(dataclasses.replace(AVX2, native_float_width=0), 1) == conv_cpu.CPU_CVEC_ACC
    assert conv_cpu.one_by_one_channels(AVX2) == conv_cpu.CPU_1X1_MB < conv_cpu.CPU_1X1_MB_WIDE
    assert conv_cpu.pixel_vector(AVX2) == conv_cpu.CPU_VW < conv_cpu.pixel_vector(AVX512) == conv_cpu.CPU_VW_WIDE
    assert conv_cpu.one_by_one_channels(AVX512) == conv_cpu.CPU_1X1_MB_WIDE
    for mg, ow in ((64, 56), (16, 7), (8, 112), (32, 3)):
        for acc in (conv_cpu.CPU_CVEC_ACC, conv_cpu.CPU_CVEC_ACC_WIDE):
            mv, px = conv_cpu.cvec_tile(mg, ow, acc)
            assert mv * px <= acc and px <= ow


@pytest.mark.skipif(not CPUS, reason="no OpenCL CPU device")
@pytest.mark.parametrize("case", CVEC_CASES, ids=[c.name for c in CVEC_CASES])
def test_cvec_cases_with_the_other_tile(case, monkeypatch, tmp_path):
    monkeypatch.setattr(conv_cpu, "CPU_CVEC_ACC", conv_cpu.CPU_CVEC_ACC_WIDE)
    monkeypatch.setattr(conv_cpu, "CPU_CVEC_ACC_WIDE", conv_cpu.CPU_CVEC_ACC)
    for data_type in ("fp32", "fp16"):
        check_case(f"Conv-{case.name}-other-tile", conv, case, CPUS[0], data_type, tmp_path)


@pytest.mark.skipif(not CPUS, reason="no OpenCL CPU device")
@pytest.mark.parametrize("case", ONE_BY_ONE_CASES, ids=[c.name for c in ONE_BY_ONE_CASES])
def test_1x1_cases_with_the_other_block(case, monkeypatch, tmp_path):
    for narrow, wide in (("CPU_1X1_MB", "CPU_1X1_MB_WIDE"), ("CPU_VW", "CPU_VW_WIDE")):
        monkeypatch.setattr(conv_cpu, narrow, getattr(conv_cpu, wide))
        monkeypatch.setattr(conv_cpu, wide, getattr(conv_cpu, narrow))
    for data_type in ("fp32", "fp16"):
        check_case(f"Conv-{case.name}-other-block", conv, case, CPUS[0], data_type, tmp_path)


@pytest.mark.skipif(not CPUS, reason="no OpenCL CPU device")
@pytest.mark.parametrize("case", ROWS_CASES, ids=[c.name for c in ROWS_CASES])
def test_row_cases_with_the_other_vector(case, monkeypatch, tmp_path):
    monkeypatch.setattr(conv_cpu, "CPU_ROW_VW", conv_cpu.CPU_ROW_VW_WIDE)
    monkeypatch.setattr(conv_cpu, "CPU_ROW_VW_WIDE", conv_cpu.CPU_ROW_VW)
    for data_type in ("fp32", "fp16"):
        check_case(f"Conv-{case.name}-other-vector", conv, case, CPUS[0], data_type, tmp_path)
