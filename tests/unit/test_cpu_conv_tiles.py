"""The CPU conv kernels' register blocking by the device's vector registers: conv_cvec_cpu's CPU_CVEC_ACC_WIDE
accumulators for a stride-1 conv and conv1x1_cpu's CPU_1X1_MB_WIDE channels where the native float vector is 16
wide (AVX-512: 32 registers), CPU_CVEC_ACC and CPU_1X1_MB elsewhere (AVX2: 16) — and their cases right with the
blocking this machine does not pick, so both are checked on any CPU."""
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
ONE_BY_ONE_CASES = [c for c in conv.CASES if c.attrs.get("kernel_shape") == [1, 1] and c.attrs.get("group", 1) == 1
                    and c.attrs.get("kernel_variant") in (None, "conv1x1_cpu")]


def test_the_tile_follows_the_native_vector_width():
    assert conv_cpu.cvec_accumulators(AVX2, 1) == conv_cpu.CPU_CVEC_ACC < conv_cpu.CPU_CVEC_ACC_WIDE
    assert conv_cpu.cvec_accumulators(AVX512, 1) == conv_cpu.CPU_CVEC_ACC_WIDE
    assert conv_cpu.cvec_accumulators(AVX512, 2) == conv_cpu.CPU_CVEC_ACC
    assert conv_cpu.cvec_accumulators(dataclasses.replace(AVX2, native_float_width=0), 1) == conv_cpu.CPU_CVEC_ACC
    assert conv_cpu.one_by_one_channels(AVX2) == conv_cpu.CPU_1X1_MB < conv_cpu.CPU_1X1_MB_WIDE
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
    monkeypatch.setattr(conv_cpu, "CPU_1X1_MB", conv_cpu.CPU_1X1_MB_WIDE)
    monkeypatch.setattr(conv_cpu, "CPU_1X1_MB_WIDE", conv_cpu.CPU_1X1_MB)
    for data_type in ("fp32", "fp16"):
        check_case(f"Conv-{case.name}-other-block", conv, case, CPUS[0], data_type, tmp_path)
