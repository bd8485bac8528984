"""Shared pieces for the cache tests (imported by name, so spawned children find them too): device records,
synthetic entries, real OpenCL sources, valid files to damage."""
import os
from pathlib import Path

from pymace.runtime.program_cache import DeviceRecord, ProgramCache, make_entry

if Path("/etc/OpenCL/vendors").is_dir():  # pyopencl's bundled ICD loader sees system drivers only through this
    os.environ.setdefault("OCL_ICD_VENDORS", "/etc/OpenCL/vendors")

DEVICE = DeviceRecord("Test GPU 9000", "ACME", "580.159.04", "ACME OpenCL", "OpenCL 3.0 ACME 12.8", "OpenCL C 1.2")
OTHER_DEVICE = DeviceRecord("Other GPU", "Initech", "1.2.3", "Initech CL", "OpenCL 2.0", "OpenCL C 2.0")

# (program, source hash, options, binary) — small synthetic entries for the structural tests
ENTRIES = [
    ("conv", "a" * 64, "-DUSE_RELU -DDATA_TYPE=float", b"conv-binary " * 7),
    ("pool", "b" * 64, "", b"\x00\x01pool"),
    ("softmax", "c" * 64, "-cl-fast-relaxed-math", bytes(range(256))),
]

PROGRAMS = {  # real OpenCL sources for the PoCL tests: (source, options)
    "scale": ("__kernel void scale(__global float *x) { x[get_global_id(0)] *= SCALE; }", "-DSCALE=3.0f"),
    "shift": ("__kernel void shift(__global float *x) { x[get_global_id(0)] += 1.5f; }", ""),
}


def synthetic_entries(device=DEVICE):
    return [make_entry(device, *fields) for fields in ENTRIES]


def fill(storage, device=DEVICE, entries=ENTRIES) -> ProgramCache:
    cache = ProgramCache(storage, device)
    for fields in entries:
        cache.store(*fields)
    assert cache.save()
    return cache
